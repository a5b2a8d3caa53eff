// Types of the `sockopt` package (integer socket options on a socket's fd).
// Only src/netlink/socket.ts uses it.
declare module 'sockopt' {
  /** Anything with the fd of an open socket at `_handle.fd`. */
  interface HasFd {
    _handle: { fd: number };
  }
  function getsockopt(socket: HasFd, level: number, name: number): number;
  function setsockopt(socket: HasFd, level: number, name: number, value: number): void;
  const sockopt: { getsockopt: typeof getsockopt; setsockopt: typeof setsockopt };
  export default sockopt;
}
