/*
 * paddock-watch [-r] DIR [-x SKIPPED]...: reports changes in directory DIR (and, with -r, in
 * every directory below it) through inotify. Node's fs.watch only says "rename" or "change"
 * (no create, remove or directory bit), and its recursive mode on Linux polls every file with
 * stat; this is one inotify descriptor and a blocking read.
 *
 *   fd 0  from the agent: end of file (the agent closed it, or died) ends the helper
 *   fd 1  to the agent: records, each ended by a NUL byte (a path may hold any other byte):
 *           "R"              the watches are in place (first, once)
 *           "<K><D><PATH>"   K: c create, w write, d remove, m rename (the old name; the new
 *                            name comes as a create), a chmod (attributes); D: 1 a directory,
 *                            0 not; PATH absolute
 *           "O"              the kernel's queue overflowed: events were lost
 *           "G"              DIR itself was removed or moved away: nothing more will come
 *           "E<ERRNO> <PATH>" a watch could not be added (ENOSPC: the inotify watch limit);
 *                            before "R" the helper then exits 1, after it it goes on
 *
 * A new directory under a recursive watch is watched as soon as it is seen, and what it holds
 * already is reported as created (it may have been filled before its watch was in place), so
 * an entry made just then can be reported twice.
 * Directories named by -x (absolute; e.g. /proc) are never descended into; symlinks are not
 * followed below DIR.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define MASK                                                                         \
  (IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |     \
   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

static int ifd;
static int recursive;
static char **skipped;
static int nskipped;
/* The path of each watch descriptor (kernel descriptors are small and not reused soon). */
static char **paths;
static int npaths;
static int root_wd = -1;

/* A record of one byte ("R", "O", "G"). */
static void mark(char kind) {
  putchar(kind);
  putchar('\0');
}

static void record(char kind, int is_dir, const char *path) {
  printf("%c%c%s%c", kind, is_dir ? '1' : '0', path, '\0');
}

static void failed(int err, const char *path) {
  printf("E%s %s%c", strerrorname_np(err) ? strerrorname_np(err) : "EIO", path, '\0');
}

static int is_skipped(const char *path) {
  for (int i = 0; i < nskipped; i++)
    if (strcmp(path, skipped[i]) == 0) return 1;
  return 0;
}

static int add(const char *path, int follow) {
  int wd = inotify_add_watch(ifd, path, MASK | (follow ? 0 : IN_DONT_FOLLOW));
  if (wd < 0) return -1;
  if (wd >= npaths) {
    int n = wd * 2 + 16;
    paths = realloc(paths, n * sizeof *paths);
    if (!paths) exit(2);
    memset(paths + npaths, 0, (n - npaths) * sizeof *paths);
    npaths = n;
  }
  free(paths[wd]);
  paths[wd] = strdup(path);
  return wd;
}

/* Watches `dir` and, recursively, the directories below it; `report` names what it finds. */
static int walk(const char *dir, int report) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
  struct dirent *e;
  char child[PATH_MAX];
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(child, sizeof child, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", e->d_name);
    struct stat st;
    int is_dir = e->d_type == DT_DIR ||
                 (e->d_type == DT_UNKNOWN && lstat(child, &st) == 0 && S_ISDIR(st.st_mode));
    if (report) record('c', is_dir, child);
    if (!is_dir || is_skipped(child)) continue;
    if (add(child, 0) < 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      int err = errno;
      closedir(d);
      errno = err;
      failed(errno, child);
      return -1;
    }
    if (walk(child, report) < 0) {
      closedir(d);
      return -1;
    }
  }
  closedir(d);
  return 0;
}

/* Stops watching `dir` and everything below it (it moved: its recorded paths are stale). */
static void forget(const char *dir) {
  size_t len = strlen(dir);
  for (int wd = 0; wd < npaths; wd++) {
    if (!paths[wd] || wd == root_wd) continue;
    if (strncmp(paths[wd], dir, len) == 0 && (paths[wd][len] == '\0' || paths[wd][len] == '/')) {
      inotify_rm_watch(ifd, wd);
      free(paths[wd]);
      paths[wd] = NULL;
    }
  }
}

static void handle(const struct inotify_event *ev) {
  if (ev->mask & IN_Q_OVERFLOW) {
    mark('O');
    return;
  }
  if (ev->wd < 0 || ev->wd >= npaths || !paths[ev->wd]) return;
  if (ev->mask & IN_IGNORED) {
    free(paths[ev->wd]);
    paths[ev->wd] = NULL;
    return;
  }
  if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
    if (ev->wd == root_wd) {
      mark('G');
      fflush(stdout);
      exit(0);
    }
    return;
  }
  if (ev->len == 0) return;
  const char *dir = paths[ev->wd];
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", ev->name);
  int is_dir = (ev->mask & IN_ISDIR) != 0;
  char kind = ev->mask & (IN_CREATE | IN_MOVED_TO) ? 'c'
              : ev->mask & IN_MODIFY               ? 'w'
              : ev->mask & IN_DELETE               ? 'd'
              : ev->mask & IN_MOVED_FROM           ? 'm'
                                                   : 'a';
  record(kind, is_dir, path);
  if (!recursive || !is_dir) return;
  if (kind == 'm') forget(path);
  if (kind == 'c' && !is_skipped(path)) {
    if (add(path, 0) < 0) {
      if (errno != ENOENT && errno != ENOTDIR) failed(errno, path);
      return;
    }
    walk(path, 1);
  }
}

int main(int argc, char **argv) {
  const char *root = NULL;
  skipped = calloc(argc, sizeof *skipped);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-r") == 0) recursive = 1;
    else if (strcmp(argv[i], "-x") == 0 && i + 1 < argc) skipped[nskipped++] = argv[++i];
    else root = argv[i];
  }
  if (!root) {
    fputs("usage: paddock-watch [-r] DIR [-x SKIPPED]...\n", stderr);
    return 2;
  }
  ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (ifd < 0) {
    failed(errno, root);
    return 1;
  }
  root_wd = add(root, 1);
  if (root_wd < 0 || (recursive && walk(root, 0) < 0)) {
    if (root_wd < 0) failed(errno, root);
    fflush(stdout);
    return 1;
  }
  mark('R');
  fflush(stdout);

  static char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
  struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = ifd, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[0].revents) {
      char drop[256];
      if (read(0, drop, sizeof drop) <= 0) return 0;
    }
    if (!(fds[1].revents & POLLIN)) continue;
    ssize_t n = read(ifd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return 1;
    }
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      handle(ev);
      p += sizeof *ev + ev->len;
    }
    /* A slow reader blocks this write, and then the kernel's queue overflows: memory stays
       bounded and the reader learns of the loss. */
    if (fflush(stdout) != 0) return 0;
  }
}
