/**
 * systemd's readiness protocol (sd_notify(3)), for koffloadd as a
 * `Type=notify` service (deploy/systemd/koffloadd.service): READY=1 once
 * every subsystem is bound and /metrics listens, STOPPING=1 when shutdown
 * begins. systemd names the socket in $NOTIFY_SOCKET (a path, or '@name'
 * in the abstract namespace); without it nothing is sent, so a daemon
 * started by hand, by a test or by another supervisor is unaffected. The
 * datagram goes out through koffload's own addon (no libsystemd, no npm
 * dependency). A failed send is logged once and never fails the daemon.
 */
import { errnoName } from '../errors.js';
import { koffloadNl } from '../native/koffload-nl.js';
import type { Logger } from './policy.js';

/** Sends `state` (NAME=value lines) to `socketPath`: 0 or the errno. The addon's by default. */
export type NotifySend = (socketPath: string, state: string) => number;

export interface NotifierOptions {
  /** where NOTIFY_SOCKET is read. @default process.env */
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** the send (tests inject one). @default the addon's sdNotify() */
  send?: NotifySend;
}

export class SystemdNotifier {
  /** $NOTIFY_SOCKET, or undefined when systemd does not wait for us */
  readonly socketPath: string | undefined;
  /** datagrams sent, and failed sends */
  sent = 0;
  failed = 0;
  private readonly send: NotifySend;

  constructor(private readonly opts: NotifierOptions) {
    const p = (opts.env ?? process.env)['NOTIFY_SOCKET'];
    this.socketPath = p === undefined || p === '' ? undefined : p;
    this.send = opts.send ?? ((path, state) => koffloadNl().sdNotify(path, state));
  }

  /** READY=1, with a STATUS= line for `systemctl status`. */
  ready(status: string): void {
    this.notify(`READY=1\nSTATUS=${status}`);
  }

  /** STOPPING=1: shutdown has begun (draining, unbinding). */
  stopping(): void {
    this.notify('STOPPING=1\nSTATUS=stopping');
  }

  private notify(state: string): void {
    if (this.socketPath === undefined) return;
    let err: number;
    try {
      err = this.send(this.socketPath, state);
    } catch (e) {
      // the addon missing, or a state it refused
      if (this.failed === 0) this.opts.logger.warn('cannot notify systemd', { socket: this.socketPath, err: String(e) });
      this.failed++;
      return;
    }
    if (err === 0) {
      this.sent++;
      return;
    }
    if (this.failed === 0) this.opts.logger.warn('cannot notify systemd', { socket: this.socketPath, errno: errnoName(err) ?? err });
    this.failed++;
  }
}
