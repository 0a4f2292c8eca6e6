/*
 * paddock-copy BYTES: moves one large upload from the daemon's connection into a file. Under
 * gVisor every system call is costly and Node reads a socket 64 KiB at a time, with per-chunk
 * work on top: uploads through the agent topped out near 100 MiB/s. This reads with 1 MiB
 * buffers and no event loop.
 *
 *   fd 0  the connection (an HTTP upgrade the agent accepted): we answer 101, then read BYTES
 *   fd 1  the temporary file to fill
 *   fd 2  to the agent, one line: "ok N" | "cut N" (the connection ended early) |
 *         "write ERRNO" | "read ERRNO", ERRNO being a name such as ENOSPC
 *   fd 3  from the agent: the answer, relayed onto the connection until the agent closes it
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF_BYTES (1 << 20)

static const char SWITCHED[] =
    "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: paddock-bytes\r\n\r\n";

/* The connection is non-blocking (its file description is shared with the agent's Node). */
static int wait_for(int fd, short events) {
  struct pollfd p = {.fd = fd, .events = events};
  while (poll(&p, 1, -1) < 0)
    if (errno != EINTR) return -1;
  return 0;
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN && wait_for(fd, POLLOUT) == 0) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static void report(const char *fmt, const char *word, long long n) {
  char line[64];
  int len = word ? snprintf(line, sizeof line, fmt, word) : snprintf(line, sizeof line, fmt, n);
  if (len > 0) write_all(2, line, (size_t)len);
}

/* Copies `want` bytes from fd 0 to fd 1 and says how it went on fd 2. */
static void copy(long long want) {
  char *buf = malloc(BUF_BYTES);
  if (!buf) {
    report("write %s\n", "ENOMEM", 0);
    return;
  }
  long long got = 0;
  while (got < want) {
    size_t ask = want - got < BUF_BYTES ? (size_t)(want - got) : BUF_BYTES;
    ssize_t n = read(0, buf, ask);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN && wait_for(0, POLLIN) == 0) continue;
      report("read %s\n", strerrorname_np(errno), 0);
      return;
    }
    if (n == 0) {
      report("cut %lld\n", NULL, got);
      return;
    }
    if (write_all(1, buf, (size_t)n) < 0) {
      report("write %s\n", strerrorname_np(errno), 0);
      return;
    }
    got += n;
  }
  report("ok %lld\n", NULL, got);
}

/*
 * After a failed copy (ENOSPC) the daemon may still be sending the rest of the body. Closing
 * the connection with bytes unread would reset it, and the daemon, failing its write, could
 * lose the answer already sent. So what still comes is read and dropped until the daemon,
 * having read the answer, closes its end (or goes quiet for DRAIN_IDLE_MS).
 */
#define DRAIN_IDLE_MS 30000
static void drain(int fd) {
  char *buf = malloc(BUF_BYTES);
  if (!buf) return;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int ready = poll(&p, 1, DRAIN_IDLE_MS);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    ssize_t n = read(fd, buf, BUF_BYTES);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
  }
  free(buf);
}

int main(int argc, char **argv) {
  // The daemon may be gone by the time the answer is relayed; that is not ours to die of.
  signal(SIGPIPE, SIG_IGN);
  char *end;
  long long want = argc == 2 ? strtoll(argv[1], &end, 10) : -1;
  if (want < 0 || *end != '\0') {
    fprintf(stderr, "usage: paddock-copy BYTES\n");
    return 2;
  }
  if (write_all(0, SWITCHED, sizeof SWITCHED - 1) < 0) {
    report("read %s\n", strerrorname_np(errno), 0);
    return 1;
  }
  copy(want);
  close(1);
  close(2);
  char buf[4096];
  for (;;) {
    ssize_t n = read(3, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || write_all(0, buf, (size_t)n) < 0) break;
  }
  drain(0);
  return 0;
}
