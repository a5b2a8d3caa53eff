/**
 * The simulated generic netlink layer: netlink_rcv_skb(), genl_rcv_msg()
 * and the two families' command handlers (koffload_netlink.c and the
 * control half of koffload_test.c), answering with the bytes the kernel
 * sends: replies, NLMSG_ERROR with the request echoed and extended ack
 * TLVs (NLMSGERR_ATTR_MSG, _OFFS, _POLICY, _MISS_TYPE), multipart dumps
 * ended by NLMSG_DONE.
 *
 * The clients' sockets are assumed to have NETLINK_EXT_ACK on and
 * NETLINK_CAP_ACK off, which is how src/netlink/socket.ts opens every
 * socket; the simulator cannot read another process's socket options.
 *
 * Ordering: messages from one sender port are handled one after another,
 * as the kernel handles them inside the sender's sendmsg(); different
 * senders run concurrently (parallel_ops).
 */
import { KOFFLOAD } from '../generated/wire.js';
import { NLM_F, NLMSGERR_ATTR, encodeU64Nest, putAttr, putString, putU32, putU64 } from '../netlink/codec.js';
import { type KCall, type SimCore, type Subsys, type Upcaller } from './core.js';
import { type AttrTable, type ExtAckInfo, type FamilyPolicy, type GenlFailure, encodePolicyNest, parseStrict, policyFromSpec } from './policy.js';
import { ERRNO, type PeerInfo, type SimTransport } from './transport.js';

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLMSG_MIN_TYPE = 16;
const HDRLEN = 16;
const GENL_HDRLEN = 4;

/** One received genl request, as struct genl_info describes it. */
export interface GenlInfo {
  /** the whole message (nlmsghdr included) */
  nlh: Buffer;
  type: number;
  flags: number;
  seq: number;
  cmd: number;
  sndPortid: number;
  peer: PeerInfo | undefined;
  attrs: AttrTable;
  extack: ExtAckInfo;
}

/** A doit's result: 0 or a negative errno, plus reply messages to send first. */
export interface DoitResult {
  err: number;
  replies?: Buffer[][];
  /** called when a reply could not be sent (genlmsg_reply() failed): undo, and answer with the errno */
  replyFailed?: (errno: number) => void;
}

export interface GenlOp {
  cmd: number;
  admin: boolean;
  doit?: (info: GenlInfo) => Promise<DoitResult> | DoitResult;
  /** returns the messages of the dump (each an attribute list) */
  dumpit?: (info: GenlInfo) => Buffer[][];
}

export interface SimFamily {
  name: string;
  id: number;
  version: number;
  policy: FamilyPolicy;
  /** commands from this one on get the reserved-field check */
  resvStartOp: number;
  ops: Map<number, GenlOp>;
}

/** A netlink message: header fields, payload parts (padded to 4). */
export function nlmsg(type: number, flags: number, seq: number, pid: number, parts: readonly Buffer[]): Buffer {
  const len = HDRLEN + parts.reduce((n, p) => n + p.length, 0);
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  out.writeUInt32LE(pid >>> 0, 12);
  let off = HDRLEN;
  for (const p of parts) {
    p.copy(out, off);
    off += p.length;
  }
  return out;
}

/** genlmsg_put() + the attributes. */
export function genlmsg(family: SimFamily, flags: number, seq: number, pid: number, cmd: number, attrs: readonly Buffer[]): Buffer {
  const g = Buffer.from([cmd, family.version, 0, 0]);
  return nlmsg(family.id, flags, seq, pid, [g, ...attrs]);
}

/** netlink_ack(): an ACK (err 0) or an error with the request and its TLVs. */
export function nlAck(nlh: Buffer, portid: number, err: number, extack: ExtAckInfo): Buffer {
  const reqLen = nlh.readUInt32LE(0);
  const seq = nlh.readUInt32LE(8);
  let flags = 0;
  const parts: Buffer[] = [];
  const e = Buffer.alloc(4);
  e.writeInt32LE(err, 0);
  parts.push(e);
  if (err) {
    const echo = nlh.subarray(0, reqLen);
    parts.push(echo, Buffer.alloc(((echo.length + 3) & ~3) - echo.length));
  } else {
    flags |= NLM_F.CAPPED;
    parts.push(nlh.subarray(0, HDRLEN));
  }
  const tlvs: Buffer[] = [];
  if (extack.msg !== undefined) tlvs.push(putString(NLMSGERR_ATTR.MSG, extack.msg));
  if (err) {
    if (extack.badAttrOffset !== undefined) tlvs.push(putU32(NLMSGERR_ATTR.OFFS, extack.badAttrOffset));
    if (extack.policy) tlvs.push(encodePolicyNest(NLMSGERR_ATTR.POLICY, extack.policy));
    if (extack.missType !== undefined) tlvs.push(putU32(NLMSGERR_ATTR.MISS_TYPE, extack.missType));
  }
  if (tlvs.length > 0) flags |= NLM_F.ACK_TLVS;
  return nlmsg(NLMSG_ERROR, flags, seq, portid, [...parts, ...tlvs]);
}

/** GENL_REQ_ATTR_CHECK(): true (and the missing type noted) when absent. */
export function reqAttrMissing(info: GenlInfo, type: number): boolean {
  if (info.attrs.has(type)) return false;
  info.extack.missType = type;
  return true;
}

export function getU32(info: GenlInfo, type: number): number | undefined {
  return info.attrs.get(type)?.data.readUInt32LE(0);
}

/** nla_data() of a NUL_STRING read as a C string: the bytes up to the first NUL. */
export function getCString(info: GenlInfo, type: number): Buffer | undefined {
  const d = info.attrs.get(type)?.data;
  if (!d) return undefined;
  const nul = d.indexOf(0);
  return d.subarray(0, nul < 0 ? d.length : nul);
}

export function setErrAttr(info: GenlInfo, type: number, msg: string): void {
  info.extack.msg = msg;
  const a = info.attrs.get(type);
  if (a) info.extack.badAttrOffset = a.offset;
}

export class SimGenl {
  private readonly families = new Map<number, SimFamily>();
  private readonly chains = new Map<number, Promise<void>>();
  /** datagrams whose handling threw (a simulator bug), for the log */
  internalErrors = 0;

  constructor(
    private readonly transport: SimTransport,
    private readonly log: (line: string) => void,
  ) {
    transport.onDatagram((buf, port) => this.enqueue(buf, port));
  }

  register(f: SimFamily): void {
    this.families.set(f.id, f);
  }

  unregister(id: number): void {
    this.families.delete(id);
  }

  /** Whether `socket` still holds `port` (see SimTransport.holds()). */
  holds(port: number, socket: unknown): boolean {
    return this.transport.holds(port, socket);
  }

  /** Sends one datagram to `port`; resolves 0 or an errno. */
  send(port: number, msgs: readonly Buffer[]): Promise<number> {
    return this.transport.unicast(port, msgs);
  }

  private enqueue(buf: Buffer, port: number): void {
    const prev = this.chains.get(port) ?? Promise.resolve();
    const next = prev
      .then(() => this.rcvSkb(buf, port))
      .catch((err: unknown) => {
        this.internalErrors++;
        this.log(`koffload-sim: internal error handling a datagram from port ${port}: ${String(err)}`);
      });
    this.chains.set(port, next);
    void next.then(() => {
      if (this.chains.get(port) === next) this.chains.delete(port);
    });
  }

  /** netlink_rcv_skb(): each message in turn; garbage ends the datagram. */
  private async rcvSkb(buf: Buffer, port: number): Promise<void> {
    let off = 0;
    while (buf.length - off >= HDRLEN) {
      const len = buf.readUInt32LE(off);
      if (len < HDRLEN || buf.length - off < len) return;
      const nlh = buf.subarray(off, off + len);
      const flags = nlh.readUInt16LE(6);
      const type = nlh.readUInt16LE(4);
      let err = 0;
      const extack: ExtAckInfo = {};
      let skipAck = false;
      if ((flags & NLM_F.REQUEST) !== 0 && type >= NLMSG_MIN_TYPE) {
        const r = await this.genlRcvMsg(nlh, port, extack);
        if (r === 'dump') skipAck = true;
        else err = r;
      }
      if (!skipAck && ((flags & NLM_F.ACK) !== 0 || err)) await this.send(port, [nlAck(nlh, port, err, extack)]);
      off += Math.min((len + 3) & ~3, buf.length - off);
    }
  }

  /** genl_rcv_msg() + genl_family_rcv_msg(): an errno, or 'dump' (no ACK). */
  private async genlRcvMsg(nlh: Buffer, port: number, extack: ExtAckInfo): Promise<number | 'dump'> {
    const family = this.families.get(nlh.readUInt16LE(4));
    if (!family) return -ERRNO.ENOENT;
    if (nlh.length < HDRLEN + GENL_HDRLEN) return -ERRNO.EINVAL;
    const cmd = nlh.readUInt8(HDRLEN);
    if (cmd >= family.resvStartOp && nlh.readUInt16LE(HDRLEN + 2) !== 0) return -ERRNO.EINVAL;
    const op = family.ops.get(cmd);
    if (!op) return -ERRNO.EOPNOTSUPP;
    const peer = this.transport.peer(port);
    if (op.admin && !peer?.netAdmin) return -ERRNO.EPERM;
    const flags = nlh.readUInt16LE(6);
    const dump = (flags & NLM_F.DUMP) === NLM_F.DUMP;
    if (dump ? !op.dumpit : !op.doit) return -ERRNO.EOPNOTSUPP;
    const parsed = parseStrict(nlh.subarray(HDRLEN + GENL_HDRLEN), HDRLEN + GENL_HDRLEN, family.policy);
    if (!(parsed instanceof Map)) {
      Object.assign(extack, (parsed as GenlFailure).extack);
      return -(parsed as GenlFailure).errno;
    }
    const info: GenlInfo = { nlh, type: family.id, flags, seq: nlh.readUInt32LE(8), cmd, sndPortid: port, peer, attrs: parsed, extack };
    if (dump) {
      // one datagram with every message, then NLMSG_DONE on its own, as
      // netlink_dump() sends a dump that fits one skb
      const msgs = op.dumpit!(info).map((attrs) => genlmsg(family, NLM_F.MULTI, info.seq, port, cmd, attrs));
      if (msgs.length > 0) await this.send(port, msgs);
      const done = Buffer.alloc(4);
      await this.send(port, [nlmsg(NLMSG_DONE, NLM_F.MULTI, info.seq, port, [done])]);
      return 'dump';
    }
    const r = await op.doit!(info);
    for (const attrs of r.replies ?? []) {
      const errno = await this.send(port, [genlmsg(family, 0, info.seq, port, cmd, attrs)]);
      if (errno && r.replyFailed) {
        r.replyFailed(errno);
        return -errno;
      }
    }
    return r.err;
  }
}

// ---------------------------------------------------------------------------
// family koffload (koffload_netlink.c)

const A = KOFFLOAD.attr;
const CMD = KOFFLOAD.cmd;

/**
 * koffload_nl_fill_subsys(): the attributes of a GET-SUBSYS / BIND reply;
 * the handler's port and pid only for a CAP_NET_ADMIN reader.
 */
export function fillSubsys(ks: Subsys, admin: boolean): Buffer[] {
  return [
    putU32(A.subsysId, ks.id),
    putString(A.subsysName, ks.name),
    putU32(A.bound, ks.portid ? 1 : 0),
    ...(admin ? [putU32(A.portid, ks.portid), putU32(A.boundPid, ks.boundPid)] : []),
    putU32(A.mode, KOFFLOAD.mode[ks.mode]),
    putU32(A.canaryPermille, ks.canaryPermille),
    putU32(A.deadlineMs, ks.effectiveTimeoutMs(0)),
    putU32(A.maxInflight, ks.effectiveInflight()),
    putU32(A.pending, ks.pending.size),
    putU32(A.circuit, KOFFLOAD.circuit[ks.circuit]),
    putU32(A.nrOps, ks.nrOps),
    putU32(A.payloadMax, KOFFLOAD.limits.payloadMax),
    putU32(A.inflightMax, KOFFLOAD.limits.inflightMax),
    putU32(A.deadlineMaxMs, KOFFLOAD.limits.deadlineMaxMs),
    encodeU64Nest(A.outcomes, KOFFLOAD.outcomeKeys.map((k) => ks.outcomes[k])),
    encodeU64Nest(A.counters, KOFFLOAD.counterKeys.map((k) => ks.counters[k])),
  ];
}

/** koffload_nl_request(): the REQUEST a handler receives. */
export function requestAttrs(ks: Subsys, kc: KCall, id: bigint, deadlineNs: bigint, flags: number): Buffer[] {
  const attrs = [
    putU64(A.reqId, id),
    putU32(A.subsysId, ks.id),
    putU32(A.op, kc.op),
    putU64(A.deadlineNs, deadlineNs),
    putU32(A.flags, flags),
    putAttr(A.payload, kc.req),
  ];
  if (flags & KOFFLOAD.reqFlag.hasDefault && kc.default) attrs.push(putAttr(A.default, kc.default));
  return attrs;
}

export interface KoffloadFamilyHooks {
  /** called after a BIND took a new port, so its death (and its process's) can be watched */
  bound(ks: Subsys, port: number, pid: number): void;
  /** a chance to learn about a port before its first REQUEST (e.g. its buffer size) */
  beforeBind?(port: number): Promise<void>;
}

/** Builds family koffload and makes it the core's way to reach handlers. */
export function koffloadFamily(core: SimCore, genl: SimGenl, id: number, hooks: KoffloadFamilyHooks): SimFamily {
  const family: SimFamily = {
    name: KOFFLOAD.familyName,
    id,
    version: KOFFLOAD.version,
    policy: policyFromSpec(KOFFLOAD.attrSpec),
    resvStartOp: 0,
    ops: new Map(),
  };

  const upcaller: Upcaller = {
    sendRequest(ks, port, reqId, kc, deadlineNs, flags) {
      return genl.send(port, [genlmsg(family, 0, 0, 0, CMD.request, requestAttrs(ks, kc, reqId, deadlineNs, flags))]);
    },
  };
  core.upcaller = upcaller;

  /** koffload_nl_subsys(); the caller has checked that subsys-id is there */
  const subsysOf = (info: GenlInfo): Subsys | undefined => {
    const ks = core.subsystems.get(getU32(info, A.subsysId)!);
    if (!ks) setErrAttr(info, A.subsysId, 'no such subsystem');
    return ks;
  };

  const op = (o: GenlOp): void => void family.ops.set(o.cmd, o);

  op({
    cmd: CMD.bind,
    admin: true,
    async doit(info) {
      if (reqAttrMissing(info, A.subsysName) || reqAttrMissing(info, A.version)) return { err: -ERRNO.EINVAL };
      if (getU32(info, A.version) !== KOFFLOAD.version) {
        setErrAttr(info, A.version, 'unsupported koffload protocol version');
        return { err: -ERRNO.EPROTO };
      }
      // learn about the port first; no state is touched across this await
      if (hooks.beforeBind) await hooks.beforeBind(info.sndPortid);
      const ks = core.findByName(getCString(info, A.subsysName)!);
      if (!ks) {
        setErrAttr(info, A.subsysName, 'no such subsystem');
        return { err: -ERRNO.ENOENT };
      }
      const socket = info.peer?.socket;
      if (ks.portid && !core.boundTo(ks, socket)) {
        // koffload_binding_dead(): a closing handler is released first
        if (genl.holds(ks.portid, ks.boundSocket)) {
          info.extack.msg = 'subsystem already has a handler';
          return { err: -ERRNO.EBUSY };
        }
        if (ks.bindToken) core.release(ks, ks.bindToken);
      }
      // the mode and canary fraction are the admin's: kept unless given;
      // the caps are the handler's own, stated by every BIND
      const old = { mode: ks.mode, canaryPermille: ks.canaryPermille, capDeadlineMs: ks.capDeadlineMs, capInflight: ks.capInflight };
      const fresh = !ks.portid;
      if (fresh) core.bindLocked(ks, info.sndPortid, info.peer?.pid ?? 0, socket);
      const mode = getU32(info, A.mode);
      if (mode !== undefined) ks.mode = KOFFLOAD.modeKeys[mode]!;
      ks.canaryPermille = getU32(info, A.canaryPermille) ?? ks.canaryPermille;
      ks.capDeadlineMs = getU32(info, A.deadlineMs) ?? 0;
      ks.capInflight = getU32(info, A.maxInflight) ?? 0;
      if (ks.mode === 'off' || ks.mode === 'shadow') ks.cache.clear();
      if (fresh) {
        // counted once the reply went out, in the kernel; undone below here
        ks.count('binds');
        hooks.bound(ks, info.sndPortid, info.peer?.pid ?? 0);
      }
      return {
        err: 0,
        replies: [fillSubsys(ks, true)],
        // a handler that never learnt it is bound must not be
        replyFailed: () => {
          if (fresh && core.boundTo(ks, socket)) core.completeClaimed(core.unbindLocked(ks), 'handlerDied');
          Object.assign(ks, old);
          if (fresh) ks.counters.binds--;
        },
      };
    },
  });

  op({
    cmd: CMD.unbind,
    admin: true,
    doit(info) {
      if (reqAttrMissing(info, A.subsysId)) return { err: -ERRNO.EINVAL };
      const ks = subsysOf(info);
      if (!ks) return { err: -ERRNO.ENOENT };
      if (!core.boundTo(ks, info.peer?.socket)) {
        info.extack.msg = 'socket is not bound to subsystem';
        return { err: -ERRNO.EPERM };
      }
      core.completeClaimed(core.unbindLocked(ks), 'handlerDied');
      return { err: 0 };
    },
  });

  op({
    cmd: CMD.reply,
    admin: true,
    doit(info) {
      if (reqAttrMissing(info, A.reqId) || reqAttrMissing(info, A.status)) return { err: -ERRNO.EINVAL };
      const payload = info.attrs.get(A.payload);
      const err = core.completeReply(info.attrs.get(A.reqId)!.data.readBigUInt64LE(0), info.peer?.socket, getU32(info, A.status)!, payload?.data);
      if (err === -ERRNO.EPERM) info.extack.msg = 'socket is not the bound handler';
      else if (err === -ERRNO.ENOENT) {
        // counted; unless the handler asked for an ack, no error echo crowds its buffer
        if (!(info.flags & NLM_F.ACK)) return { err: 0 };
        info.extack.msg = 'no such pending request';
      }
      else if (err === -ERRNO.EMSGSIZE) setErrAttr(info, A.payload, 'payload larger than the caller\'s buffer');
      return { err };
    },
  });

  op({
    cmd: CMD.publish,
    admin: true,
    doit(info) {
      if (reqAttrMissing(info, A.subsysId) || reqAttrMissing(info, A.cacheKey) || reqAttrMissing(info, A.cacheTtlMs)) return { err: -ERRNO.EINVAL };
      const ttlMs = getU32(info, A.cacheTtlMs)!;
      if (ttlMs && reqAttrMissing(info, A.payload)) return { err: -ERRNO.EINVAL };
      const key = info.attrs.get(A.cacheKey)!.data;
      if (key.length === 0) {
        setErrAttr(info, A.cacheKey, 'empty cache key');
        return { err: -ERRNO.EINVAL };
      }
      const ks = subsysOf(info);
      if (!ks) return { err: -ERRNO.ENOENT };
      if (!core.boundTo(ks, info.peer?.socket)) {
        info.extack.msg = 'socket is not the bound handler';
        return { err: -ERRNO.EPERM };
      }
      const err = core.cachePublish(ks, key, info.attrs.get(A.payload)?.data ?? Buffer.alloc(0), ttlMs, ks.bindGen);
      if (err === -ERRNO.ENOSPC) info.extack.msg = 'advisory cache is full';
      return { err };
    },
  });

  op({
    cmd: CMD.getSubsys,
    admin: false,
    doit(info) {
      let ks: Subsys | undefined;
      if (info.attrs.has(A.subsysId)) ks = core.subsystems.get(getU32(info, A.subsysId)!);
      else if (info.attrs.has(A.subsysName)) ks = core.findByName(getCString(info, A.subsysName)!);
      else info.extack.msg = 'need subsys-id or subsys-name';
      return ks ? { err: 0, replies: [fillSubsys(ks, info.peer?.netAdmin ?? false)] } : { err: -ERRNO.ENOENT };
    },
    dumpit(info) {
      return [...core.subsystems.keys()].sort((a, b) => a - b).map((k) => fillSubsys(core.subsystems.get(k)!, info.peer?.netAdmin ?? false));
    },
  });

  op({
    cmd: CMD.setMode,
    admin: true,
    doit(info) {
      if (reqAttrMissing(info, A.subsysId) || reqAttrMissing(info, A.mode)) return { err: -ERRNO.EINVAL };
      const ks = subsysOf(info);
      if (!ks) return { err: -ERRNO.ENOENT };
      ks.mode = KOFFLOAD.modeKeys[getU32(info, A.mode)!]!;
      const permille = getU32(info, A.canaryPermille);
      if (permille !== undefined) ks.canaryPermille = permille;
      // a rollback is one: no earlier decision survives
      if (ks.mode === 'off' || ks.mode === 'shadow') ks.cache.clear();
      return { err: 0 };
    },
  });

  return family;
}

