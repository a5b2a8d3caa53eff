/**
 * Loads koffload's own native addon (src/native/koffload_nl.c), built into
 * dist/native/koffload_nl.node by `npm run build` (scripts/build-native.mjs).
 * Only the transport (src/netlink/socket.ts) uses it, and only once a real
 * netlink socket is opened: the in-memory simulator never loads it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's exports; a failed system call throws an Error with errno, code and syscall. */
export interface KoffloadNl {
  /** setsockopt(2) with an int value. */
  setsockopt(fd: number, level: number, name: number, value: number): void;
  /** getsockopt(2) of an int value. */
  getsockopt(fd: number, level: number, name: number): number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** dist/src/native/ when compiled, src/native/ under tsx: both find dist/native/. */
const CANDIDATES = [join(here, '..', '..', 'native', 'koffload_nl.node'), join(here, '..', '..', 'dist', 'native', 'koffload_nl.node')];

let addon: KoffloadNl | undefined;

/** The addon, loaded on first use; throws if it was not built. */
export function koffloadNl(): KoffloadNl {
  if (addon) return addon;
  const path = CANDIDATES.find((p) => existsSync(p));
  if (!path) throw new Error(`the native addon dist/native/koffload_nl.node is missing: run 'npm run build' (it needs gcc)`);
  addon = createRequire(import.meta.url)(path) as KoffloadNl;
  return addon;
}
