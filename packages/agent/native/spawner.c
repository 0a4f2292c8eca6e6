/*
 * paddock-spawner: starts processes for the agent. Under gVisor, forking the agent's node costs
 * ~50 ms (its address space is large); vfork from this small static program costs ~5 ms.
 *
 * Protocol, on stdin (from the agent): frames of a 4-byte little-endian length, then
 * NUL-terminated fields:
 *   spawn ID STDIN(0|1) CWD UID GID ARGC ARGV... ENVC ENV...   (CWD, UID, GID may be empty)
 *   close ID      the agent has opened its ends of ID's pipes; drop ours
 * On stdout (to the agent), one line each:
 *   ok ID PID STDIN_FD STDOUT_FD STDERR_FD   our fds holding the agent's ends (-1: none), which
 *                                            the agent opens through /proc/<our pid>/fd/N
 *   err ID ERRNO                             the process could not start
 *   exit PID CODE SIGNAL                     a child ended (CODE -1 when SIGNAL is not 0)
 * The children run in their own session (so a signal to -PID reaches all they start), with
 * default signal handling and nothing open but their three standard fds.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FRAME (16u << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The agent's ends of one spawn's pipes, held until it says `close`. */
struct held {
  char id[64];
  int fds[3];
  struct held *next;
};
static struct held *held_list;
static int devnull = -1;
/* RLIMIT_NPROC for children ($PADDOCK_PROCESS_LIMIT; under gVisor the sandbox's process limit
 * is kept this way, inside, so a fork bomb meets EAGAIN instead of the host cgroup). */
static struct rlimit nproc = {0, 0};

static void die(const char *what) {
  fprintf(stderr, "paddock-spawner: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  for (int at = 0; at < n;) {
    ssize_t w = write(1, line + at, (size_t)(n - at));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(0); /* the agent is gone */
    at += (int)w;
  }
}

/* Splits a frame into its NUL-terminated fields; returns how many, or -1 when malformed. */
static int fields(char *buf, uint32_t len, char **out, int max) {
  int n = 0;
  uint32_t start = 0;
  for (uint32_t i = 0; i < len; i++) {
    if (buf[i] != '\0') continue;
    if (n == max) return -1;
    out[n++] = buf + start;
    start = i + 1;
  }
  return start == len ? n : -1;
}

static const char *env_path(char **envp) {
  for (char **e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
  return DEFAULT_PATH;
}

/* What one child needs; the vfork child writes only `error`. */
struct launch {
  char **argv, **envp;
  const char *cwd;
  long uid, gid;
  int in, out, err;
  volatile int error;
};

/* Runs in the vfork child: only syscalls, no allocation. Returns only on failure. */
static int exec_child(const struct launch *l) {
  char **argv = l->argv, **envp = l->envp;
  const char *cwd = l->cwd;
  long uid = l->uid, gid = l->gid;
  int in = l->in, out = l->out, err = l->err;
  sigset_t none;
  sigemptyset(&none);
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8) < 0) return errno;
  if (setsid() < 0) return errno;
  if (nproc.rlim_max > 0 && syscall(SYS_prlimit64, 0, RLIMIT_NPROC, &nproc, NULL) < 0) return errno;
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) return errno;
  if (gid >= 0 && (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, gid, gid, gid) < 0))
    return errno;
  if (uid >= 0 && syscall(SYS_setresuid, uid, uid, uid) < 0) return errno;
  if (*cwd && chdir(cwd) < 0) return errno;
  const char *file = argv[0];
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    return errno;
  }
  /* PATH search as execvp does it, but in the child's own environment. */
  const char *path = env_path(envp);
  size_t flen = strlen(file);
  int saved = ENOENT;
  char buf[PATH_MAX];
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    size_t dlen = (size_t)(end - p);
    if (dlen + 1 + flen + 1 <= sizeof buf) {
      memcpy(buf, p, dlen);
      size_t at = dlen;
      if (dlen > 0) buf[at++] = '/';
      memcpy(buf + at, file, flen + 1);
      execve(buf, argv, envp);
      if (errno == EACCES) saved = EACCES;
      else if (errno != ENOENT && errno != ENOTDIR) return errno;
    }
    if (*end == '\0') break;
    p = end;
  }
  return saved;
}

/* Kept apart from its caller so no local of the caller lives across vfork. */
static pid_t __attribute__((noinline)) launch(struct launch *l) {
  pid_t pid = vfork();
  if (pid == 0) {
    l->error = exec_child(l);
    _exit(127);
  }
  return pid;
}

static long parse_id(const char *s) {
  if (!*s) return -1;
  char *end;
  long v = strtol(s, &end, 10);
  return *end == '\0' && v >= 0 ? v : -1;
}

static void spawn(char **f, int n) {
  /* f: "spawn" ID STDIN CWD UID GID ARGC ARGV... ENVC ENV... */
  if (n < 8) goto bad;
  const char *id = f[1];
  int want_stdin = strcmp(f[2], "1") == 0;
  const char *cwd = f[3];
  long uid = parse_id(f[4]), gid = parse_id(f[5]);
  int argc = atoi(f[6]);
  if (argc < 1 || 7 + argc >= n) goto bad;
  int envc = atoi(f[7 + argc]);
  if (envc < 0 || 8 + argc + envc != n) goto bad;
  if (strlen(id) >= sizeof held_list->id) goto bad;

  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  char **envp = calloc((size_t)envc + 1, sizeof *envp);
  if (!argv || !envp) die("calloc");
  memcpy(argv, f + 7, (size_t)argc * sizeof *argv);
  memcpy(envp, f + 8 + argc, (size_t)envc * sizeof *envp);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  int failed = 0;
  if ((want_stdin && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
      pipe2(err, O_CLOEXEC) < 0)
    failed = errno;
  pid_t pid = -1;
  if (!failed) {
    struct launch l = {argv, envp, cwd, uid, gid, want_stdin ? in[0] : devnull, out[1], err[1], 0};
    pid = launch(&l);
    /* A child that changed its uid before exec made our shared mm non-dumpable, which closes
     * /proc/<us>/fd to the agent; open it again. */
    if (uid >= 0 || gid >= 0) prctl(PR_SET_DUMPABLE, 1);
    if (pid < 0) failed = errno;
    else if (l.error) {
      failed = l.error;
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
    }
  }
  free(argv);
  free(envp);
  /* The child's ends are the child's now. */
  if (out[1] >= 0) close(out[1]);
  if (err[1] >= 0) close(err[1]);
  if (failed) {
    int ours[] = {in[0], in[1], out[0], err[0]};
    for (int i = 0; i < 4; i++)
      if (ours[i] >= 0) close(ours[i]);
    say("err %s %d\n", id, failed);
    return;
  }
  /* stdin's read end stays open with us until `close`, so the agent can still open the write
   * end even if the child has already exited. */
  if (in[0] >= 0) close(in[0]);
  struct held *h = calloc(1, sizeof *h);
  if (!h) die("calloc");
  strcpy(h->id, id);
  h->fds[0] = in[1];
  h->fds[1] = out[0];
  h->fds[2] = err[0];
  h->next = held_list;
  held_list = h;
  say("ok %s %d %d %d %d\n", id, pid, in[1], out[0], err[0]);
  return;
bad:
  fprintf(stderr, "paddock-spawner: malformed spawn request\n");
  exit(2);
}

static void release(const char *id) {
  for (struct held **p = &held_list; *p; p = &(*p)->next) {
    if (strcmp((*p)->id, id) != 0) continue;
    struct held *h = *p;
    for (int i = 0; i < 3; i++)
      if (h->fds[i] >= 0) close(h->fds[i]);
    *p = h->next;
    free(h);
    return;
  }
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (WIFEXITED(status)) say("exit %d %d 0\n", pid, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) say("exit %d -1 %d\n", pid, WTERMSIG(status));
  }
}

/*
 * Descriptors the agent's node did not mark close-on-exec (the listening socket paddock-init
 * hands it) must not reach user processes: close everything inherited past stdio.
 */
static void close_inherited(void) {
  if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) return;
  int self = dirfd(dir);
  struct dirent *e;
  while ((e = readdir(dir))) {
    int fd = atoi(e->d_name);
    if (fd > 2 && fd != self) close(fd);
  }
  closedir(dir);
}

int main(void) {
  close_inherited();
  const char *limit = getenv("PADDOCK_PROCESS_LIMIT");
  if (limit && atol(limit) > 0) nproc.rlim_cur = nproc.rlim_max = (rlim_t)atol(limit);
  devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) die("open /dev/null");
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0) die("sigprocmask");
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);

  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) die("malloc");
  struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
  for (;;) {
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (pfd[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
      }
      reap();
    }
    if (!pfd[0].revents) continue;
    if (len == cap) {
      cap *= 2;
      if (!(buf = realloc(buf, cap))) die("realloc");
    }
    ssize_t r = read(0, buf + len, cap - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0; /* the agent is gone; our children carry on under init */
    len += (size_t)r;
    size_t at = 0;
    while (len - at >= 4) {
      uint32_t flen;
      memcpy(&flen, buf + at, 4);
      if (flen > MAX_FRAME) {
        fprintf(stderr, "paddock-spawner: frame of %u bytes\n", flen);
        return 2;
      }
      if (len - at - 4 < flen) {
        if (flen + 4 > cap) {
          while (cap < flen + 4) cap *= 2;
          if (!(buf = realloc(buf, cap))) die("realloc");
        }
        break;
      }
      static char *f[8 + 2 * 65536];
      int n = fields(buf + at + 4, flen, f, (int)(sizeof f / sizeof *f));
      if (n < 2) {
        fprintf(stderr, "paddock-spawner: malformed frame\n");
        return 2;
      }
      if (strcmp(f[0], "spawn") == 0) spawn(f, n);
      else if (strcmp(f[0], "close") == 0) release(f[1]);
      at += 4 + flen;
    }
    memmove(buf, buf + at, len - at);
    len -= at;
  }
}
