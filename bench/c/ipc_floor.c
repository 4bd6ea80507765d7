/*
 * The C floor for the benchmarks: blocking read/write over a Unix domain socket with
 * length-prefixed frames (4-byte big-endian length, then the payload). Nothing in Node
 * can beat this, so it tells us how much of a measured time is the kernel's.
 *
 * The -poll modes are the floor for busy polling: the connected socket is non-blocking and a
 * read that finds nothing is retried at once after sched_yield(), so neither side ever sleeps
 * in the kernel waiting for the other (no wake-up to pay), yet a peer on the same CPU still gets
 * to run. That is what the transport's busyPoll option does on Node's loop.
 *
 *   ipc_floor server PATH              listen, echo every frame back (connections one after another)
 *   ipc_floor client-rtt PATH N SIZE   ping-pong N round trips of SIZE-byte frames, print JSON
 *                                      percentiles of the per-round-trip time in nanoseconds
 *   ipc_floor sink PATH                listen, count frames; reply with the count (an 8-byte frame)
 *                                      when asked by a 1-byte control frame and when the peer ends
 *   ipc_floor source PATH N SIZE       connect, write N frames as fast as possible, then ask the
 *                                      peer for its count and print JSON with the rate
 *   ipc_floor server-poll PATH         as server, polling reads on a non-blocking socket
 *   ipc_floor client-rtt-poll PATH N SIZE  as client-rtt, polling reads on a non-blocking socket
 *
 * The bench protocol: a frame whose payload is exactly 1 byte is a control frame ("report your
 * count") and is not counted; data frames are never 1 byte long. Servers print READY once they
 * listen, so the runner knows when to start the client.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONTROL_LEN 1
#define WARMUP_ROUND_TRIPS 2000
/* Large enough that a 64-byte frame sink needs one read() per few thousand frames. */
#define READ_CHUNK (256 * 1024)

static void die(const char *what) {
  perror(what);
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get_be32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_be64(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = v & 0xff; v >>= 8; }
}

static uint64_t get_be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

static struct sockaddr_un make_addr(const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) {
    fprintf(stderr, "socket path too long: %s\n", path);
    exit(1);
  }
  strcpy(addr.sun_path, path);
  return addr;
}

static int listen_on(const char *path) {
  struct sockaddr_un addr = make_addr(path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  unlink(path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(fd, 16) < 0) die("listen");
  printf("READY\n");
  fflush(stdout);
  return fd;
}

static int connect_to(const char *path) {
  struct sockaddr_un addr = make_addr(path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  return fd;
}

/*
 * Blocking sockets never fail with EAGAIN, so the retry after sched_yield() in the I/O helpers
 * below only ever runs for the -poll modes, which make their connected socket non-blocking.
 */
static void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl");
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        sched_yield();
        continue;
      }
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Returns 1 on success, 0 on EOF before len bytes, -1 on error. */
static int read_all(int fd, void *data, size_t len) {
  char *p = data;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        sched_yield();
        continue;
      }
      return -1;
    }
    if (n == 0) return 0;
    p += n;
    len -= (size_t)n;
  }
  return 1;
}

/* A buffered frame reader: one read() can yield many frames, and a frame can span reads. */
struct reader {
  int fd;
  unsigned char *buf;
  size_t cap, start, end;
};

static void reader_init(struct reader *r, int fd) {
  r->fd = fd;
  r->cap = READ_CHUNK;
  r->buf = malloc(r->cap);
  if (!r->buf) die("malloc");
  r->start = r->end = 0;
}

/*
 * Points *frame at the next whole frame (header included) and returns its total length,
 * or 0 on EOF, -1 on error. The frame stays valid until the next call.
 */
static ssize_t reader_next(struct reader *r, unsigned char **frame) {
  for (;;) {
    size_t avail = r->end - r->start;
    if (avail >= 4) {
      size_t total = 4 + (size_t)get_be32(r->buf + r->start);
      if (avail >= total) {
        *frame = r->buf + r->start;
        r->start += total;
        return (ssize_t)total;
      }
      if (total > r->cap) {
        size_t cap = r->cap;
        while (cap < total) cap *= 2;
        unsigned char *bigger = malloc(cap);
        if (!bigger) die("malloc");
        memcpy(bigger, r->buf + r->start, avail);
        free(r->buf);
        r->buf = bigger;
        r->cap = cap;
        r->start = 0;
        r->end = avail;
      }
    }
    if (r->start > 0 && (r->start == r->end || r->cap - r->end < READ_CHUNK / 4)) {
      memmove(r->buf, r->buf + r->start, avail);
      r->start = 0;
      r->end = avail;
    }
    ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        sched_yield();
        continue;
      }
      return -1;
    }
    if (n == 0) return 0;
    r->end += (size_t)n;
  }
}

static int send_count(int fd, uint64_t count) {
  unsigned char reply[12];
  put_be32(reply, 8);
  put_be64(reply + 4, count);
  return write_all(fd, reply, sizeof reply);
}

/* Between connections the server blocks in accept(), polling or not: only a connection is polled. */
static void run_server(const char *path, int poll) {
  int lfd = listen_on(path);
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      die("accept");
    }
    if (poll) set_nonblocking(fd);
    struct reader r;
    reader_init(&r, fd);
    unsigned char *frame;
    ssize_t len;
    while ((len = reader_next(&r, &frame)) > 0) {
      if (write_all(fd, frame, (size_t)len) < 0) break;
    }
    free(r.buf);
    close(fd);
  }
}

static void run_sink(const char *path) {
  int lfd = listen_on(path);
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      die("accept");
    }
    struct reader r;
    reader_init(&r, fd);
    uint64_t count = 0;
    unsigned char *frame;
    ssize_t len;
    while ((len = reader_next(&r, &frame)) > 0) {
      if (len == 4 + CONTROL_LEN) {
        if (send_count(fd, count) < 0) break;
      } else {
        count++;
      }
    }
    /* The peer ended: tell it the final count if it still listens (it may have closed). */
    if (len == 0) send_count(fd, count);
    free(r.buf);
    close(fd);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The same index rule as mitata, so the C and JS percentiles mean the same thing. */
static uint64_t percentile(const uint64_t *sorted, size_t n, double q) {
  return sorted[(size_t)(q * (double)(n - 1))];
}

static void run_client_rtt(const char *path, size_t n, size_t size, int poll) {
  int fd = connect_to(path);
  if (poll) set_nonblocking(fd);
  size_t total = 4 + size;
  unsigned char *out = calloc(1, total), *in = malloc(total);
  uint64_t *samples = malloc(n * sizeof *samples);
  if (!out || !in || !samples) die("malloc");
  put_be32(out, (uint32_t)size);

  for (size_t i = 0; i < WARMUP_ROUND_TRIPS + n; i++) {
    uint64_t t0 = now_ns();
    if (write_all(fd, out, total) < 0) die("write");
    int rc = read_all(fd, in, total);
    if (rc <= 0) die(rc == 0 ? "read: unexpected EOF" : "read");
    uint64_t t1 = now_ns();
    if (i >= WARMUP_ROUND_TRIPS) samples[i - WARMUP_ROUND_TRIPS] = t1 - t0;
  }
  close(fd);

  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)samples[i];
  qsort(samples, n, sizeof *samples, cmp_u64);
  printf("{\"n\":%zu,\"size\":%zu,\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,\"mean\":%.1f}\n", n, size,
         (unsigned long long)percentile(samples, n, 0.50), (unsigned long long)percentile(samples, n, 0.99),
         (unsigned long long)percentile(samples, n, 0.999), sum / (double)n);
}

static void run_source(const char *path, size_t n, size_t size) {
  int fd = connect_to(path);
  size_t total = 4 + size;
  /* Prebuild a chunk of whole frames, so small frames go out many per write() as a fast sender would. */
  size_t per_chunk = READ_CHUNK / total;
  if (per_chunk == 0) per_chunk = 1;
  unsigned char *chunk = calloc(per_chunk, total);
  if (!chunk) die("malloc");
  for (size_t i = 0; i < per_chunk; i++) put_be32(chunk + i * total, (uint32_t)size);

  uint64_t t0 = now_ns();
  for (size_t sent = 0; sent < n;) {
    size_t k = n - sent < per_chunk ? n - sent : per_chunk;
    if (write_all(fd, chunk, k * total) < 0) die("write");
    sent += k;
  }
  unsigned char control[4 + CONTROL_LEN] = {0};
  put_be32(control, CONTROL_LEN);
  if (write_all(fd, control, sizeof control) < 0) die("write");
  unsigned char reply[12];
  int rc = read_all(fd, reply, sizeof reply);
  if (rc <= 0) die(rc == 0 ? "read: unexpected EOF" : "read");
  uint64_t ns = now_ns() - t0;
  close(fd);

  double secs = (double)ns / 1e9;
  printf("{\"frames\":%zu,\"size\":%zu,\"ns\":%llu,\"peerCount\":%llu,\"framesPerSec\":%.1f,\"bytesPerSec\":%.1f}\n",
         n, size, (unsigned long long)ns, (unsigned long long)get_be64(reply + 4), (double)n / secs,
         (double)n * (double)size / secs);
}

static void usage(void) {
  fprintf(stderr,
          "usage: ipc_floor server PATH | client-rtt PATH N SIZE | sink PATH | source PATH N SIZE |\n"
          "                 server-poll PATH | client-rtt-poll PATH N SIZE\n");
  exit(2);
}

int main(int argc, char **argv) {
  /* A peer that goes away must show up as a write error, not kill us silently. */
  signal(SIGPIPE, SIG_IGN);
  if (argc < 3) usage();
  const char *mode = argv[1], *path = argv[2];
  if (argc == 5 && strtoull(argv[4], NULL, 10) == CONTROL_LEN) {
    fprintf(stderr, "SIZE %d is reserved for control frames\n", CONTROL_LEN);
    return 2;
  }
  if (strcmp(mode, "server") == 0) {
    run_server(path, 0);
  } else if (strcmp(mode, "server-poll") == 0) {
    run_server(path, 1);
  } else if (strcmp(mode, "sink") == 0) {
    run_sink(path);
  } else if (strcmp(mode, "client-rtt") == 0 && argc == 5) {
    run_client_rtt(path, strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), 0);
  } else if (strcmp(mode, "client-rtt-poll") == 0 && argc == 5) {
    run_client_rtt(path, strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), 1);
  } else if (strcmp(mode, "source") == 0 && argc == 5) {
    run_source(path, strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
  } else {
    usage();
  }
  return 0;
}
