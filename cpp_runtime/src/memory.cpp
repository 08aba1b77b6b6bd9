// zoo::reuse_freed_memory: keep freed heap memory in the process (model.hpp says why).
#include "zoo/model.hpp"

#if defined(__GLIBC__)
#include <malloc.h>

#include <climits>
#endif

namespace zoo {

bool reuse_freed_memory() {
#if defined(__GLIBC__)
  // No block is given its own mapping (so none is unmapped on free) and the heap top is never trimmed
  // back to the kernel; a later allocation of the same size reuses the already-faulted pages.
  static const bool done = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
  return done;
#else
  return false;
#endif
}

}  // namespace zoo
