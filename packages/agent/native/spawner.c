/*
 * paddock-spawner: starts processes for the agent. Under gVisor, forking the agent's node costs
 * ~50 ms (its address space is large); vfork from this small static program costs ~5 ms.
 *
 * Protocol, on stdin (from the agent): frames of a 4-byte little-endian length, then
 * NUL-terminated fields:
 *   spawn ID STDIN(0|1) PTY CWD UID GID ARGC ARGV... ENVC ENV...
 *                 (PTY is "COLSxROWS" for a terminal, else empty; CWD, UID, GID may be empty)
 *   close ID      the agent has opened its ends of ID's pipes; drop ours
 *   resize PID COLS ROWS   a terminal's new size; its foreground process group gets SIGWINCH
 * On stdout (to the agent), one line each:
 *   ok ID PID STDIN_FD STDOUT_FD STDERR_FD   our fds holding the agent's ends (-1: none), which
 *                                            the agent opens through /proc/<our pid>/fd/N
 *   err ID ERRNO                             the process could not start
 *   exit PID CODE SIGNAL                     a child ended (CODE -1 when SIGNAL is not 0); a
 *                                            terminal's, once all it wrote is in its stdout pipe
 * The children run in their own session (so a signal to -PID reaches all they start), with
 * default signal handling and nothing open but their three standard fds.
 *
 * A terminal's child has the pty's slave as its controlling terminal and as fds 0, 1 and 2. We
 * keep the master: reopening it through /proc would allocate a new terminal. We relay it to two
 * ordinary pipes the agent opens as above (its stdin pipe to the master, the master to its
 * stdout pipe; STDIN is always 1), with backpressure both ways. Its stderr pipe is at end of
 * file from the start. Once no process holds the slave (the master reads EIO) and everything
 * read is written on, the stdout pipe is closed, so the agent reads end of file; if the agent
 * closes its stdout end first, the master is closed (the terminal hangs up).
 *
 * The agent takes an exit as "all the process wrote is in its pipes" (true of a pipe: the writes
 * are in it when the writer dies); after that, an empty pipe that stays open is a grandchild's
 * (`sleep 99 &`), which it stops following. A terminal's output passes through us, so its exit is
 * held back until what the child wrote is read from the master and written to the pipe: else,
 * when we are slow to run, the agent may find the pipe still empty and end the output without it.
 * We keep a slave open until the child is reaped and its output read, so that "all it wrote is
 * read" is a read of EAGAIN after the reap, however the kernel (or gVisor) orders its hangup and
 * its last data.
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
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
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

/* A terminal's master and the pipes it is relayed to (see the header). */
struct relay {
  pid_t pid;
  int master, in, out; /* in: read end of the agent's stdin pipe; out: write end of stdout's */
  int slave;           /* ours, until the child is reaped and its output read (-1 then) */
  int in_eof, master_eof, master_hup;
  /* The child's exit waits here until `relayed` reaches `exit_at` (see the header). */
  int reaped, drained, reported, status;
  size_t read_total, relayed, reaped_at, exit_at;
  size_t to_master_at, to_master_len, to_out_at, to_out_len;
  char to_master[4096];
  char to_out[65536];
  struct relay *next;
};
static struct relay *relays;
static int relay_count;
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
  int tty; /* in, out and err are a terminal's slave, to become the controlling terminal */
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
  /* We ignore SIGPIPE; an ignored disposition would survive exec. */
  if (signal(SIGPIPE, SIG_DFL) == SIG_ERR) return errno;
  if (setsid() < 0) return errno;
  if (l->tty && ioctl(in, TIOCSCTTY, 0) < 0) return errno;
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

/* Opens a terminal of this size: its master (non-blocking) and its slave; -1 and errno on failure.
 * Plain syscalls, not grantpt (which may consult NSS for the tty group; we are static). */
static int open_pty(unsigned short cols, unsigned short rows, long uid, int *slave) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (master < 0) return -1;
  int unlock = 0, n;
  struct winsize ws = {.ws_row = rows, .ws_col = cols};
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCSWINSZ, &ws) < 0) goto fail;
  /* TIOCGPTPEER opens the slave of this very master; older kernels need its path. */
  *slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*slave < 0) {
    char path[32];
    if (ioctl(master, TIOCGPTN, &n) < 0) goto fail;
    snprintf(path, sizeof path, "/dev/pts/%d", n);
    if ((*slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) goto fail;
  }
  /* As grantpt would: the terminal belongs to its user (programs like `mesg` check). */
  if (uid >= 0 && fchown(*slave, (uid_t)uid, (gid_t)-1) < 0) {
    /* not fatal: the process still has the terminal open */
  }
  return master;
fail: {
  int saved = errno;
  close(master);
  errno = saved;
  return -1;
}
}

static void spawn(char **f, int n) {
  /* f: "spawn" ID STDIN PTY CWD UID GID ARGC ARGV... ENVC ENV... */
  if (n < 9) goto bad;
  const char *id = f[1];
  int want_stdin = strcmp(f[2], "1") == 0;
  unsigned cols = 0, rows = 0;
  int tty = f[3][0] != '\0';
  if (tty && (sscanf(f[3], "%ux%u", &cols, &rows) != 2 || !cols || !rows || cols > 0xffff ||
              rows > 0xffff))
    goto bad;
  const char *cwd = f[4];
  long uid = parse_id(f[5]), gid = parse_id(f[6]);
  int argc = atoi(f[7]);
  if (argc < 1 || 8 + argc >= n) goto bad;
  int envc = atoi(f[8 + argc]);
  if (envc < 0 || 9 + argc + envc != n) goto bad;
  if (strlen(id) >= sizeof held_list->id) goto bad;

  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  char **envp = calloc((size_t)envc + 1, sizeof *envp);
  if (!argv || !envp) die("calloc");
  memcpy(argv, f + 8, (size_t)argc * sizeof *argv);
  memcpy(envp, f + 9 + argc, (size_t)envc * sizeof *envp);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  int master = -1, slave = -1;
  int failed = 0;
  /* A terminal's pipes are relayed by our poll loop, which must never block on them. */
  int flags = O_CLOEXEC | (tty ? O_NONBLOCK : 0);
  if ((tty && (master = open_pty((unsigned short)cols, (unsigned short)rows, uid, &slave)) < 0) ||
      ((want_stdin || tty) && pipe2(in, flags) < 0) || pipe2(out, flags) < 0 ||
      pipe2(err, O_CLOEXEC) < 0)
    failed = errno;
  pid_t pid = -1;
  if (!failed) {
    struct launch l = {argv, envp, cwd, uid, gid, 0, 0, 0, tty, 0};
    if (tty) l.in = l.out = l.err = slave;
    else {
      l.in = want_stdin ? in[0] : devnull;
      l.out = out[1];
      l.err = err[1];
    }
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
  /* The child's ends are the child's now (a terminal's stderr pipe gets no writer at all; its
   * slave stays open in the relay, see the header). */
  if (slave >= 0 && failed) close(slave);
  if (err[1] >= 0) close(err[1]);
  if (out[1] >= 0 && (!tty || failed)) close(out[1]);
  if (failed) {
    int ours[] = {in[0], in[1], out[0], err[0], master};
    for (int i = 0; i < 5; i++)
      if (ours[i] >= 0) close(ours[i]);
    say("err %s %d\n", id, failed);
    return;
  }
  if (tty) {
    struct relay *r = calloc(1, sizeof *r);
    if (!r) die("calloc");
    r->pid = pid;
    r->master = master;
    r->slave = slave;
    r->in = in[0];
    r->out = out[1];
    r->next = relays;
    relays = r;
    relay_count++;
  } else if (in[0] >= 0) {
    /* stdin's read end stays open with us until `close`, so the agent can still open the write
     * end even if the child has already exited. */
    close(in[0]);
  }
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

/*
 * Signals every process group of a session. For gVisor, which answers TIOCGPGRP only inside the
 * terminal's session and shows no tpgid in /proc: the foreground group is among these, and
 * SIGWINCH to a background job only makes it look at the size.
 */
static void signal_session(pid_t session, int sig) {
  DIR *dir = opendir("/proc");
  if (!dir) return;
  struct dirent *e;
  while ((e = readdir(dir))) {
    char path[32], stat[512];
    int leader = atoi(e->d_name);
    if (leader <= 0) continue;
    snprintf(path, sizeof path, "%d/stat", leader);
    int fd = openat(dirfd(dir), path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (n <= 0) continue;
    stat[n] = '\0';
    /* After the command name, which may hold anything: state, ppid, pgrp, session. Each group
     * is signalled once, through its leader. */
    char *end = strrchr(stat, ')');
    int pgrp, sid;
    if (end && sscanf(end + 1, " %*c %*d %d %d", &pgrp, &sid) == 2 && sid == session &&
        pgrp == leader)
      kill(-pgrp, sig);
  }
  closedir(dir);
}

/* `resize PID COLS ROWS`: a terminal that has already hung up is left alone. */
static void resize(char **f, int n) {
  unsigned cols, rows;
  if (n != 4 || sscanf(f[2], "%u", &cols) != 1 || sscanf(f[3], "%u", &rows) != 1 || !cols ||
      !rows || cols > 0xffff || rows > 0xffff) {
    fprintf(stderr, "paddock-spawner: malformed resize request\n");
    exit(2);
  }
  pid_t pid = (pid_t)atol(f[1]);
  for (struct relay *r = relays; r; r = r->next) {
    if (r->pid != pid) continue;
    struct winsize was, ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    int changed = ioctl(r->master, TIOCGWINSZ, &was) < 0 || was.ws_row != ws.ws_row ||
                  was.ws_col != ws.ws_col;
    if (ioctl(r->master, TIOCSWINSZ, &ws) < 0 || !changed) return;
    /* gVisor (20240729) changes the size without telling the foreground process group: tell it.
     * Linux has already sent one; a second SIGWINCH only makes a program look at its size again. */
    pid_t group;
    if (ioctl(r->master, TIOCGPGRP, &group) == 0 && group > 0) kill(-group, SIGWINCH);
    else signal_session(pid, SIGWINCH);
    return;
  }
}

/* Writes what the relay holds for the agent; 0 once the agent has closed its end. */
static int relay_flush(struct relay *r) {
  while (r->to_out_len > 0) {
    ssize_t w = write(r->out, r->to_out + r->to_out_at, r->to_out_len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) break;
    if (w <= 0) return 0;
    r->to_out_at += (size_t)w;
    r->to_out_len -= (size_t)w;
    r->relayed += (size_t)w;
  }
  if (r->to_out_len == 0) r->to_out_at = 0;
  return 1;
}

/*
 * gVisor (20240729) sends SIGINT, SIGQUIT or SIGTSTP for ^C, ^\ and ^Z, whatever ISIG says, and
 * then also queues the character as input; in canonical mode the shell reads it as the start of
 * its next command (`^Ckill: not found`), where Linux drops it. With
 * $PADDOCK_PTY_ERASE_SIGNAL_CHARS (set by the runsc profile), input is written up to each such
 * character, and in canonical mode with ISIG an ERASE character follows it, which takes it back
 * out of the line. Raw-mode programs (vi, readline) read the character as they would anyway.
 */
static int erase_signal_chars;

/*
 * How many of `len` bytes to write so that a write ends at a signal character that needs taking
 * back; 0: none there. `erase` gets the terminal's ERASE character.
 */
static size_t upto_signal_char(int master, const char *buf, size_t len, cc_t *erase) {
  struct termios t;
  if (ioctl(master, TCGETS, &t) < 0 || !(t.c_lflag & ISIG) || !(t.c_lflag & ICANON)) return 0;
  *erase = t.c_cc[VERASE];
  cc_t chars[3] = {t.c_cc[VINTR], t.c_cc[VQUIT], t.c_cc[VSUSP]};
  for (size_t i = 0; i < len; i++)
    for (int c = 0; c < 3; c++)
      if (chars[c] != _POSIX_VDISABLE && (cc_t)buf[i] == chars[c]) return i + 1;
  return 0;
}

/* Copies what the agent wrote on to the terminal, as far as the terminal takes it. */
static void relay_input(struct relay *r) {
  for (;;) {
    if (r->to_master_len == 0 && !r->in_eof && !r->master_eof) {
      ssize_t got = read(r->in, r->to_master, sizeof r->to_master);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && errno == EAGAIN) return;
      if (got <= 0) {
        /* Stdin closed: a terminal reads no end of file from that (the user sends ^D). */
        r->in_eof = 1;
        return;
      }
      r->to_master_at = 0;
      r->to_master_len = (size_t)got;
    }
    if (r->to_master_len == 0) return;
    const char *from = r->to_master + r->to_master_at;
    cc_t erase = 0;
    size_t signal_at =
        erase_signal_chars ? upto_signal_char(r->master, from, r->to_master_len, &erase) : 0;
    ssize_t w = write(r->master, from, signal_at ? signal_at : r->to_master_len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w <= 0) {
      r->to_master_len = 0; /* the terminal is gone: input to it is dropped */
      return;
    }
    /* A full pty drops the ERASE: the character then stays, as without this. */
    if (signal_at && (size_t)w == signal_at && write(r->master, &erase, 1) < 0) {
    }
    r->to_master_at += (size_t)w;
    r->to_master_len -= (size_t)w;
  }
}

static void say_exit(pid_t pid, int status) {
  if (WIFEXITED(status)) say("exit %d %d 0\n", pid, WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) say("exit %d -1 %d\n", pid, WTERMSIG(status));
}

/*
 * Past this many bytes read since the reap, the rest is a grandchild's (a terminal buffers far
 * less), and the exit no longer waits for the master to be empty.
 */
#define AFTER_REAP_MAX (1u << 20)

/* All the reaped child wrote has been read: its exit goes out once that much is relayed. */
static void relay_drained(struct relay *r) {
  r->drained = 1;
  r->exit_at = r->read_total;
  if (r->slave >= 0) close(r->slave); /* the master reads EIO once no one else holds it */
  r->slave = -1;
}

/* Says the reaped child's exit once its output is in the stdout pipe. */
static void relay_report(struct relay *r) {
  if (!r->reaped || !r->drained || r->reported || r->relayed < r->exit_at) return;
  r->reported = 1;
  say_exit(r->pid, r->status);
}

/* Reads the terminal's output while there is room for it; 0 once the relay is finished. */
static int relay_output(struct relay *r) {
  while (!r->master_eof) {
    if (r->to_out_at > 0) {
      memmove(r->to_out, r->to_out + r->to_out_at, r->to_out_len);
      r->to_out_at = 0;
    }
    size_t room = sizeof r->to_out - r->to_out_len;
    if (room == 0) break;
    ssize_t got = read(r->master, r->to_out + r->to_out_len, room);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == EAGAIN) {
      /* Our slave is still open, so empty after the reap means all the child wrote is read. */
      if (r->reaped && !r->drained) relay_drained(r);
      break;
    }
    /* EIO: no process holds the slave any more. */
    if (got <= 0) r->master_eof = 1;
    else {
      r->to_out_len += (size_t)got;
      r->read_total += (size_t)got;
    }
    if (r->reaped && !r->drained &&
        (r->master_eof || r->read_total - r->reaped_at > AFTER_REAP_MAX))
      relay_drained(r);
    if (!relay_flush(r)) return 0;
  }
  if (!relay_flush(r)) return 0;
  return !(r->master_eof && r->to_out_len == 0);
}

static void relay_free(struct relay *gone) {
  for (struct relay **p = &relays; *p; p = &(*p)->next) {
    if (*p != gone) continue;
    *p = gone->next;
    /* Its output is all relayed, or the agent stopped reading it: the exit waits no longer. */
    if (gone->reaped && !gone->reported) say_exit(gone->pid, gone->status);
    if (gone->slave >= 0) close(gone->slave);
    close(gone->master);
    close(gone->in);
    close(gone->out); /* the agent reads end of file */
    free(gone);
    relay_count--;
    return;
  }
}

/*
 * The poll entries of one relay (its input pipe, master and output pipe). An entry is left out
 * (fd -1) when there is nothing to do on it: a hung-up master or a closed pipe reports POLLHUP
 * or POLLERR whatever is asked, and would otherwise wake us in a loop.
 */
static void relay_poll(const struct relay *r, struct pollfd *p) {
  int can_read = !r->master_eof && r->to_out_len < sizeof r->to_out;
  int can_write = !r->master_eof && !r->master_hup && r->to_master_len > 0;
  p[0] = (struct pollfd){.fd = -1, .events = POLLIN};
  if (!r->in_eof && !r->master_eof && r->to_master_len == 0) p[0].fd = r->in;
  p[1] = (struct pollfd){.fd = can_read || can_write ? r->master : -1,
                         .events = (short)((can_read ? POLLIN : 0) | (can_write ? POLLOUT : 0))};
  /* Always watched: POLLERR says the agent closed its end. */
  p[2] = (struct pollfd){.fd = r->out, .events = r->to_out_len > 0 ? POLLOUT : 0};
}

/* Acts on what poll reported for one relay; 0 once it is finished. */
static int relay_service(struct relay *r, const struct pollfd *p) {
  /* A reaped child's last output is read whether or not poll has seen it yet. */
  int draining = r->reaped && !r->drained;
  if (!draining && !p[0].revents && !p[1].revents && !p[2].revents) return 1;
  if (p[1].revents & POLLHUP) r->master_hup = 1;
  if (p[0].revents || (p[1].revents & POLLOUT)) relay_input(r);
  if (p[2].revents & POLLERR && !relay_flush(r)) return 0;
  if (p[2].revents & POLLERR && r->to_out_len == 0) return 0;
  int going = relay_output(r);
  if (going) relay_report(r);
  return going;
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

/* Says which children ended; a terminal's exit waits for its output (see the header). */
static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    struct relay *r = relays;
    while (r && r->pid != pid) r = r->next;
    if (!r) {
      say_exit(pid, status);
      continue;
    }
    r->reaped = 1;
    r->status = status;
    r->reaped_at = r->read_total;
    if (r->master_eof) relay_drained(r);
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
  erase_signal_chars = getenv("PADDOCK_PTY_ERASE_SIGNAL_CHARS") != NULL;
  const char *limit = getenv("PADDOCK_PROCESS_LIMIT");
  if (limit && atol(limit) > 0) nproc.rlim_cur = nproc.rlim_max = (rlim_t)atol(limit);
  devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) die("open /dev/null");
  /* A relay's output pipe closed by the agent must be an EPIPE, not our death. */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) die("signal");
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
  /* Our stdin and the signalfd, then three entries per relay, in the order of `order`. */
  struct pollfd *pfd = NULL;
  struct relay **order = NULL;
  int slots = 0;
  for (;;) {
    if (!pfd || relay_count > slots) {
      slots = relay_count * 2 + 4;
      pfd = realloc(pfd, (size_t)(2 + 3 * slots) * sizeof *pfd);
      order = realloc(order, (size_t)slots * sizeof *order);
      if (!pfd || !order) die("realloc");
    }
    pfd[0] = (struct pollfd){.fd = 0, .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
    int count = 0;
    for (struct relay *r = relays; r; r = r->next) {
      order[count] = r;
      relay_poll(r, pfd + 2 + 3 * count);
      count++;
    }
    if (poll(pfd, (nfds_t)(2 + 3 * count), -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (pfd[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
      }
      reap();
    }
    for (int i = 0; i < count; i++)
      if (!relay_service(order[i], pfd + 2 + 3 * i)) relay_free(order[i]);
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
      static char *f[9 + 2 * 65536];
      int n = fields(buf + at + 4, flen, f, (int)(sizeof f / sizeof *f));
      if (n < 2) {
        fprintf(stderr, "paddock-spawner: malformed frame\n");
        return 2;
      }
      if (strcmp(f[0], "spawn") == 0) spawn(f, n);
      else if (strcmp(f[0], "close") == 0) release(f[1]);
      else if (strcmp(f[0], "resize") == 0) resize(f, n);
      at += 4 + flen;
    }
    memmove(buf, buf + at, len - at);
    len -= at;
  }
}
