#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "cfiles.h"

int mc_punch_hole(int fd, long long offset, long long length) {
#ifdef FALLOC_FL_PUNCH_HOLE
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
#else
    errno = EOPNOTSUPP;
    return -1;
#endif
}

long long mc_next_data(int fd, long long offset) {
#ifdef SEEK_DATA
    off_t found = lseek(fd, (off_t)offset, SEEK_DATA);
    if (found >= 0) return (long long)found;
    return errno == ENXIO ? -1 : offset;
#else
    return offset;
#endif
}
