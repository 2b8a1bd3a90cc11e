// first_touch: how fast this machine hands a process fresh anonymous memory.
//
// The cold-start loader must write every weight into memory the process has never touched, so the
// kernel's page-fault + zeroing path (and, in a VM, the host backing the guest's pages) bounds it.
// Maps SIZE GiB twice in a row, with or without MADV_HUGEPAGE, and times the first memset (fault
// + zero + write) and a second one (write only). Round 1 reuses what round 0 just freed.
//
//   cc -O2 -o /tmp/first_touch bench/coldstart/first_touch.c && /tmp/first_touch 8 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s SIZE_GIB HUGEPAGES(0|1)\n", argv[0]);
    return 2;
  }
  const size_t n = (size_t)(atof(argv[1]) * (double)(1ull << 30));
  const int huge = atoi(argv[2]);
  for (int round = 0; round < 2; ++round) {
    char* p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap");
      return 1;
    }
    if (huge) madvise(p, n, MADV_HUGEPAGE);
    const double t0 = Now();
    memset(p, 1, n);
    const double t1 = Now();
    memset(p, 2, n);
    const double t2 = Now();
    printf("round %d (%s pages): first touch %.2f s (%.2f GB/s), second pass %.2f s\n", round,
           huge ? "huge" : "4K", t1 - t0, (double)n / 1e9 / (t1 - t0), t2 - t1);
    munmap(p, n);
  }
  return 0;
}
