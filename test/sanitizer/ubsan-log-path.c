/*
 * Preloaded by npm run test:asan after libasan and libubsan: makes UBSan honour log_path.
 *
 * GCC's libubsan, loaded beside libasan, sets its report file through the exported
 * __sanitizer_set_report_path, and the dynamic linker binds that call to libasan's copy (first
 * in the global scope): libasan's report path changes and libubsan's stays stderr, where a
 * finding in a child process a test did not look at would go unnoticed. This calls libubsan's
 * own copy with URING_UDP_UBSAN_LOG_PATH, so its reports land in files beside ASan's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

__attribute__((constructor(65535))) static void set_ubsan_report_path(void) {
  const char *path = getenv("URING_UDP_UBSAN_LOG_PATH");
  if (path == NULL || *path == '\0') return;
  void *ubsan = dlopen("libubsan.so.1", RTLD_NOLOAD | RTLD_LAZY);
  if (ubsan == NULL) return;
  void (*set_report_path)(const char *) = (void (*)(const char *))dlsym(ubsan, "__sanitizer_set_report_path");
  if (set_report_path != NULL) set_report_path(path);
}
