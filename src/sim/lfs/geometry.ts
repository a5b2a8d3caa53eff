/**
 * F2FS main-area geometry as mkfs.f2fs lays it out (4 KiB blocks, 512-block
 * segments, one segment per section and per zone: the defaults).
 *
 * The kernel reads two numbers from the checkpoint (build_segment_manager(),
 * segment.c): rsvd_segment_count (reserved_segments(), the floor that
 * has_not_enough_free_secs() keeps free for GC) and overprov_segment_count
 * (which includes the reserved ones). user_block_count, the "user capacity"
 * statfs reports free space against, is (main - ovp) * 512.
 */

export const BLOCKS_PER_SEG = 512;

export interface Geometry {
  /** segment_count_main */
  mainSegs: number;
  /** overprov_segment_count (reserved ones included) */
  ovpSegs: number;
  /** rsvd_segment_count */
  reservedSegs: number;
  /** overprovision ratio mkfs chose, percent */
  ovpPct: number;
}

/** user_block_count: blocks of "user capacity" */
export function userBlockCount(g: Geometry): number {
  return (g.mainSegs - g.ovpSegs) * BLOCKS_PER_SEG;
}

/**
 * Measured with mkfs.f2fs 1.15.0 (Debian 12's f2fs-tools) on sparse files:
 * `truncate -s SIZE img; mkfs.f2fs -f img; dump.f2fs -d 3 img`.
 */
export const MKFS_1_15: Readonly<Record<string, Geometry>> = {
  '128M': { mainSegs: 56, ovpSegs: 25, reservedSegs: 18, ovpPct: 20 },
  '256M': { mainSegs: 120, ovpSegs: 35, reservedSegs: 21, ovpPct: 15 },
  '512M': { mainSegs: 248, ovpSegs: 50, reservedSegs: 28, ovpPct: 10 },
  '1G': { mainSegs: 502, ovpSegs: 68, reservedSegs: 39, ovpPct: 6.36 },
  '2G': { mainSegs: 1011, ovpSegs: 94, reservedSegs: 52, ovpPct: 4.47 },
  '4G': { mainSegs: 2029, ovpSegs: 132, reservedSegs: 71, ovpPct: 3.15 },
  '8G': { mainSegs: 4065, ovpSegs: 186, reservedSegs: 98, ovpPct: 2.22 },
};

/** The 1 GiB null_blk device of the guest harness. */
export const GEOMETRY_1G: Geometry = MKFS_1_15['1G']!;

/**
 * mkfs.f2fs's choice for a main area of `mainSegs` segments:
 * get_best_overprovision() (include/f2fs_fs.h) searches the ratio that
 * leaves the most user space, then f2fs_prepare_super_block() and
 * f2fs_write_check_point_pack() round as C does (u32 truncation).
 */
export function mkfsGeometry(mainSegs: number): Geometry {
  let candidate: number;
  let end: number;
  let diff: number;
  if (mainSegs < 256) {
    candidate = 10;
    end = 95;
    diff = 5;
  } else {
    candidate = 0.01;
    end = 10;
    diff = 0.01;
  }
  let maxOvp = 0;
  let maxSpace = 0;
  for (; candidate <= end; candidate += diff) {
    const reserved = 2 * (100 / candidate + 1) + 6;
    const ovp = ((mainSegs - reserved) * candidate) / 100;
    const space = mainSegs - reserved - ovp;
    if (maxSpace < space) {
      maxSpace = space;
      maxOvp = candidate;
    }
  }
  const reservedSegs = Math.trunc(2 * (100 / maxOvp + 1) + 6);
  const ovpSegs = Math.trunc(((mainSegs - reservedSegs) * maxOvp) / 100) + reservedSegs;
  return { mainSegs, ovpSegs, reservedSegs, ovpPct: Math.round(maxOvp * 1000) / 1000 };
}

/**
 * A main area of `mainSegs` segments with the 1 GiB device's proportions of
 * over-provisioned and reserved space, for runs smaller than the guest's
 * that should keep its WAF (mkfs gives small devices far more spare space).
 */
export function scaledGeometry(mainSegs: number, like: Geometry = GEOMETRY_1G): Geometry {
  const f = mainSegs / like.mainSegs;
  return { mainSegs, ovpSegs: Math.round(like.ovpSegs * f), reservedSegs: Math.round(like.reservedSegs * f), ovpPct: like.ovpPct };
}
