/**
 * Opening a GenlClient bound to one genl family, shared by the koffload
 * and koffload_test clients.
 */
import { KoffloadError, NetlinkError } from '../errors.js';
import { GenlClient, type GenlClientOptions } from '../netlink/genl.js';

export interface FamilyClientOptions extends GenlClientOptions {
  /**
   * The family id to use without asking nlctrl (a simulator that does not
   * answer nlctrl). Resolved by name when unset.
   * @default undefined
   */
  familyId?: number;
}

/** Opens the socket and resolves `name`; KOFFLOAD_ERR_NO_FAMILY when it is not registered. */
export async function openFamily(name: string, options: FamilyClientOptions): Promise<{ genl: GenlClient; familyId: number }> {
  const genl = new GenlClient(options);
  if (options.familyId !== undefined) return { genl, familyId: options.familyId };
  try {
    return { genl, familyId: await genl.resolveFamily(name) };
  } catch (err) {
    genl.close();
    if (err instanceof NetlinkError && err.code === 'ENOENT') {
      throw new KoffloadError('KOFFLOAD_ERR_NO_FAMILY', `'${name}' is not registered (is its module loaded?)`, { cause: err, errno: err.errno });
    }
    throw err;
  }
}
