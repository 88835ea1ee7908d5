#ifndef MCLOUDS_CFILES_H
#define MCLOUDS_CFILES_H

/// Gives back the disk space of `length` bytes at `offset` in the file (`fallocate` with
/// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`, a GNU call Swift's Glibc module does not import): the
/// file keeps its size and reads zeros there. Returns 0, or -1 with `errno` set (`EOPNOTSUPP` where the
/// file system cannot).
int mc_punch_hole(int fd, long long offset, long long length);

/// The first offset at or after `offset` where the file has data (`lseek` with `SEEK_DATA`), or -1 when it
/// has none there. Where the file system cannot tell, `offset` itself.
long long mc_next_data(int fd, long long offset);

#endif
