/*
 * paddock-init: keeps a sandbox's agent alive. Runs under tini (PID 1, which reaps orphans) as
 *
 *   paddock-init AGENT ARGS...
 *
 * It binds and listens on the agent's socket ($PADDOCK_AGENT_SOCKET) once, then runs the agent
 * with that listening socket as descriptor 3 ($PADDOCK_AGENT_LISTEN_FD=3) and
 * $PADDOCK_AGENT_GENERATION counting the starts. When the agent ends for any reason but a stop
 * (a crash, its heap, kill -9 from inside), it is started again RESTART_MS later with the same
 * socket: the sandbox and its files live on, connections waiting in the socket's backlog are
 * served by the next agent, and the socket never has to be made again (the daemon makes its
 * directory read-only once the first agent answers). SIGTERM and SIGINT go to the agent; when
 * it then ends, so does this program, with the agent's status.
 *
 * Pause (gVisor checkpoint, which refuses a sandbox with a bound host socket): the agent closes
 * its copy of the socket and sends this program SIGUSR1, on which it closes its own. After the
 * restore the daemon sends SIGUSR2 (through tini), which goes on to the agent: the agent binds
 * the socket anew itself. From then on a restarted agent gets no descriptor and binds the path
 * itself too (the daemon leaves the directory writable after a resume).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_FD 3
#define RESTART_MS 100
/* An agent that keeps dying at once is restarted at most once a second. */
#define FAST_DEATH_MS 1000
#define SLOW_RESTART_MS 1000

static volatile sig_atomic_t stopping;
static volatile sig_atomic_t have_socket;
static volatile pid_t agent;

static void forward(int sig) {
  stopping = 1;
  if (agent > 0) kill(agent, sig);
}

/* SIGUSR1: the agent is about to be checkpointed; no descriptor of the socket may stay open. */
static void release_socket(int sig) {
  (void)sig;
  if (have_socket) close(LISTEN_FD);
  have_socket = 0;
}

/* SIGUSR2: the sandbox was restored; the agent listens again. */
static void pass_on(int sig) {
  if (agent > 0) kill(agent, sig);
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stopping) {
  }
}

static int listen_on(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    fprintf(stderr, "paddock-init: socket path too long: %s\n", path);
    exit(1);
  }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) {
    perror("paddock-init: socket");
    exit(1);
  }
  /* A socket left by an earlier start of this container would make bind fail. */
  unlink(path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 511) < 0) {
    fprintf(stderr, "paddock-init: listen on %s: %s\n", path, strerror(errno));
    exit(1);
  }
  if (fd != LISTEN_FD) {
    if (dup2(fd, LISTEN_FD) < 0) {
      perror("paddock-init: dup2");
      exit(1);
    }
    close(fd);
  }
  return LISTEN_FD;
}

int main(int argc, char **argv) {
  const char *path = getenv("PADDOCK_AGENT_SOCKET");
  if (argc < 2 || !path) {
    fprintf(stderr, "usage: PADDOCK_AGENT_SOCKET=PATH paddock-init AGENT ARGS...\n");
    return 2;
  }
  listen_on(path);
  have_socket = 1;

  struct sigaction sa = {.sa_handler = forward};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct sigaction release = {.sa_handler = release_socket};
  sigemptyset(&release.sa_mask);
  sigaction(SIGUSR1, &release, NULL);
  struct sigaction restored = {.sa_handler = pass_on};
  sigemptyset(&restored.sa_mask);
  sigaction(SIGUSR2, &restored, NULL);

  for (unsigned long generation = 1;; generation++) {
    char gen[32];
    snprintf(gen, sizeof gen, "%lu", generation);
    setenv("PADDOCK_AGENT_GENERATION", gen, 1);
    /* Without the socket (released for a checkpoint) the agent binds the path itself. */
    if (have_socket)
      setenv("PADDOCK_AGENT_LISTEN_FD", "3", 1);
    else
      unsetenv("PADDOCK_AGENT_LISTEN_FD");
    long started = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
      /* At the process limit (a fork bomb inside): try again shortly. */
      sleep_ms(SLOW_RESTART_MS);
      continue;
    }
    if (pid == 0) {
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      signal(SIGUSR1, SIG_DFL);
      signal(SIGUSR2, SIG_DFL);
      execv(argv[1], argv + 1);
      fprintf(stderr, "paddock-init: exec %s: %s\n", argv[1], strerror(errno));
      _exit(127);
    }
    agent = pid;
    if (stopping) kill(pid, SIGTERM);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) {
        perror("paddock-init: waitpid");
        return 1;
      }
    }
    agent = 0;
    if (stopping) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (WIFSIGNALED(status))
      fprintf(stderr, "paddock-init: the agent was killed by signal %d; starting it again\n",
              WTERMSIG(status));
    else
      fprintf(stderr, "paddock-init: the agent exited with %d; starting it again\n",
              WEXITSTATUS(status));
    sleep_ms(now_ms() - started < FAST_DEATH_MS ? SLOW_RESTART_MS : RESTART_MS);
    if (stopping) return 0;
  }
}
