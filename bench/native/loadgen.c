/*
 * The bench's native harness: a UDP load generator and fan-out receiver on
 * 127.0.0.1, so that the bench's own sockets are never what limits a figure.
 *
 * One process, one epoll loop over every socket it opens. It is driven by
 * the bench over standard input, one command a line, and answers each
 * command with one line of JSON on standard output:
 *
 *   open N
 *     Opens a group of N UDP sockets bound to 127.0.0.1 on free ports.
 *     -> {"ok":true,"group":G,"ports":[...]}
 *   register G PORT COUNT INFLIGHT RQPREFIX NAMEPREFIX NAMEBASE WINDOW RETRANSMIT_MS
 *            MAX_ATTEMPTS TIMEOUT_MS FIRST_SOCKET [EXTENSIONS...]
 *     Sends COUNT classic `REGISTER rq name 127.0.0.1 port 9` datagrams to
 *     127.0.0.1:PORT with INFLIGHT outstanding: the i-th from socket
 *     (FIRST_SOCKET + i) % size of group G, announcing that socket's port, with RQ#
 *     RQPREFIX<i> and name NAMEPREFIX<NAMEBASE+i>. A new one leaves when a
 *     REGISTERED arrives; one unanswered for RETRANSMIT_MS is sent again.
 *     -> rate, latency percentiles (last send to reply) and the rates over
 *        windows of WINDOW completions.
 *   fanout G EXPECTED BUYER_GROUP PORT TIMEOUT_MS PROBE TEXT...
 *     Sends TEXT from socket 0 of BUYER_GROUP to PORT and counts the SEARCH
 *     datagrams that group G receives with the RQ# of the first one, until
 *     EXPECTED have arrived or TIMEOUT_MS passed. PROBE is "-" or a
 *     REGISTER's text with "_" for spaces, sent from socket 1 of BUYER_GROUP as
 *     soon as the first SEARCH arrives (during the fan-out) and timed until
 *     its answer.
 *     -> times of the first and last SEARCH after the send, and how many.
 *   request G PORT TIMEOUT_MS TEXT...
 *     Sends TEXT from socket 0 of group G and waits for a datagram whose
 *     second word is TEXT's second word (its RQ#).
 *   quit
 *
 * Every wait is bounded by the command's timeout; the process exits when
 * standard input closes. Loopback only: it never sends anywhere but
 * 127.0.0.1.
 *
 * Build: cc -O2 -o loadgen loadgen.c (the bench does this itself).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_GROUPS 16
#define MAX_DATAGRAM 2048
#define BATCH 64
#define LINE_MAX_LEN 65536

struct group {
  int *fds;
  uint16_t *ports;
  int size;
};

static struct group groups[MAX_GROUPS];
static int group_count;
static int epfd;

/* Buffers for recvmmsg. */
static char bufs[BATCH][MAX_DATAGRAM + 1];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void reply_error(const char *format, ...) {
  char text[512];
  va_list args;
  va_start(args, format);
  vsnprintf(text, sizeof text, format, args);
  va_end(args);
  printf("{\"ok\":false,\"error\":\"");
  for (char *c = text; *c; c++) {
    if (*c == '"' || *c == '\\') putchar('\\');
    if ((unsigned char)*c >= 0x20) putchar(*c);
  }
  printf("\"}\n");
  fflush(stdout);
}

static void print_json_string(const char *text) {
  putchar('"');
  for (const char *c = text; *c; c++) {
    if (*c == '"' || *c == '\\') {
      putchar('\\');
      putchar(*c);
    } else if ((unsigned char)*c < 0x20) {
      printf("\\u%04x", (unsigned char)*c);
    } else {
      putchar(*c);
    }
  }
  putchar('"');
}

static int send_text(int fd, uint16_t port, const char *text, size_t length) {
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (;;) {
    ssize_t sent = sendto(fd, text, length, 0, (struct sockaddr *)&to, sizeof to);
    if (sent >= 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == ENOBUFS) {
      /* The socket's send buffer is full: the datagram is not lost, only later. */
      struct timespec pause = {0, 20000};
      nanosleep(&pause, NULL);
      continue;
    }
    return -1;
  }
}

/* Called with each datagram read: its group, its socket and its text (NUL-terminated). */
typedef void (*on_datagram)(int group, int socket, char *text, size_t length, double at,
                            void *context);

/*
 * Waits up to timeout_ms for datagrams on any socket and hands each to the
 * callback; returns after one epoll round.
 */
static void poll_once(int timeout_ms, on_datagram callback, void *context) {
  struct epoll_event events[512];
  int ready = epoll_wait(epfd, events, 512, timeout_ms);
  if (ready <= 0) return;
  double at = now_ms();
  for (int e = 0; e < ready; e++) {
    int group = (int)(events[e].data.u64 >> 32);
    int socket = (int)(events[e].data.u64 & 0xffffffff);
    int fd = groups[group].fds[socket];
    for (;;) {
      for (int i = 0; i < BATCH; i++) {
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = MAX_DATAGRAM;
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
      if (got <= 0) break;
      for (int i = 0; i < got; i++) {
        size_t length = msgs[i].msg_len;
        bufs[i][length] = '\0';
        callback(group, socket, bufs[i], length, at, context);
      }
      if (got < BATCH) break;
    }
  }
}

/* The second word of a message (its RQ#), copied into out. */
static void second_word(const char *text, char *out, size_t size) {
  const char *start = strchr(text, ' ');
  out[0] = '\0';
  if (!start) return;
  start++;
  size_t n = strcspn(start, " \r\n");
  if (n >= size) n = size - 1;
  memcpy(out, start, n);
  out[n] = '\0';
}

static int starts_with(const char *text, const char *prefix) {
  return strncmp(text, prefix, strlen(prefix)) == 0;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank quantile of sorted values, as bench/_stats.ts computes it. */
static double quantile(const double *sorted, long n, double q) {
  if (n == 0) return 0;
  double exact = q * n;
  long rank = (long)exact;
  if (rank < exact) rank++;
  rank -= 1;
  if (rank < 0) rank = 0;
  if (rank > n - 1) rank = n - 1;
  return sorted[rank];
}

/* ---------- open ---------- */

static void command_open(int size) {
  if (group_count == MAX_GROUPS) return reply_error("Too many groups");
  if (size < 1) return reply_error("A group needs at least one socket, not %d", size);
  struct group *g = &groups[group_count];
  g->fds = calloc(size, sizeof *g->fds);
  g->ports = calloc(size, sizeof *g->ports);
  for (int i = 0; i < size; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      for (int j = 0; j < i; j++) close(g->fds[j]);
      return reply_error("Cannot open socket %d of %d: %s", i + 1, size, strerror(errno));
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0 ||
        getsockname(fd, (struct sockaddr *)&address, &length) < 0) {
      close(fd);
      for (int j = 0; j < i; j++) close(g->fds[j]);
      return reply_error("Cannot bind socket %d of %d: %s", i + 1, size, strerror(errno));
    }
    struct epoll_event event = {.events = EPOLLIN};
    event.data.u64 = ((uint64_t)group_count << 32) | (uint32_t)i;
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
    g->fds[i] = fd;
    g->ports[i] = ntohs(address.sin_port);
  }
  g->size = size;
  printf("{\"ok\":true,\"group\":%d,\"ports\":[", group_count);
  for (int i = 0; i < size; i++) printf(i ? ",%u" : "%u", g->ports[i]);
  printf("]}\n");
  fflush(stdout);
  group_count++;
}

/* ---------- register ---------- */

struct registration {
  int group;
  const char *rq_prefix;
  size_t rq_prefix_length;
  long count;
  double *sent_at;
  double *latency;
  double *completed;
  unsigned char *state; /* 0 waiting, 1 outstanding, 2 done */
  long done;
  char denied[256];
};

static void on_registered(int group, int socket, char *text, size_t length, double at,
                          void *context) {
  (void)socket;
  (void)length;
  struct registration *r = context;
  if (group != r->group) return;
  int registered = starts_with(text, "REGISTERED ");
  int denied = starts_with(text, "REGISTER-DENIED ");
  if (!registered && !denied) return;
  char rq[128];
  second_word(text, rq, sizeof rq);
  if (strncmp(rq, r->rq_prefix, r->rq_prefix_length) != 0) return;
  char *end;
  long i = strtol(rq + r->rq_prefix_length, &end, 10);
  if (*end || i < 0 || i >= r->count || r->state[i] != 1) return; /* late or foreign */
  if (denied) {
    snprintf(r->denied, sizeof r->denied, "%s", text);
    return;
  }
  r->state[i] = 2;
  r->latency[i] = at - r->sent_at[i];
  r->completed[r->done++] = at;
}

static void command_register(char **argv, int argc) {
  if (argc < 13) return reply_error("register needs 12 arguments, got %d", argc - 1);
  int group = atoi(argv[1]);
  int port = atoi(argv[2]);
  long count = atol(argv[3]);
  long in_flight = atol(argv[4]);
  const char *rq_prefix = argv[5];
  const char *name_prefix = argv[6];
  long name_base = atol(argv[7]);
  long window = atol(argv[8]);
  double retransmit_ms = atof(argv[9]);
  int max_attempts = atoi(argv[10]);
  double timeout_ms = atof(argv[11]);
  long first_socket = atol(argv[12]);
  char extensions[1024] = "";
  for (int a = 13; a < argc; a++) {
    strncat(extensions, " ", sizeof extensions - strlen(extensions) - 1);
    strncat(extensions, argv[a], sizeof extensions - strlen(extensions) - 1);
  }
  if (group < 0 || group >= group_count) return reply_error("No group %d", group);
  if (count < 0 || in_flight < 1) return reply_error("Bad count or in-flight");
  struct group *g = &groups[group];

  struct registration r = {.group = group, .rq_prefix = rq_prefix, .count = count};
  r.rq_prefix_length = strlen(rq_prefix);
  r.sent_at = calloc(count + 1, sizeof *r.sent_at);
  r.latency = calloc(count + 1, sizeof *r.latency);
  r.completed = calloc(count + 1, sizeof *r.completed);
  r.state = calloc(count + 1, 1);
  int *attempts = calloc(count + 1, sizeof *attempts);
  /* The outstanding ones, in a ring of in_flight slots. */
  long *slots = calloc(in_flight, sizeof *slots);
  long slot_count = 0;
  long next = 0, retransmits = 0;
  char text[1536];
  const char *failure = NULL;
  char failure_text[512];

  double start = now_ms();
  double deadline = start + timeout_ms;
  double next_check = start + retransmit_ms / 2;
  while (r.done < count) {
    /* Drop the completed from the slots, then fill them up. */
    long kept = 0;
    for (long s = 0; s < slot_count; s++) {
      if (r.state[slots[s]] == 1) slots[kept++] = slots[s];
    }
    slot_count = kept;
    while (slot_count < in_flight && next < count) {
      long i = next++;
      int socket = (int)((first_socket + i) % g->size);
      int length = snprintf(text, sizeof text, "REGISTER %s%ld %s%ld 127.0.0.1 %u 9%s", rq_prefix,
                            i, name_prefix, name_base + i, g->ports[socket], extensions);
      r.state[i] = 1;
      r.sent_at[i] = now_ms();
      attempts[i] = 1;
      if (send_text(g->fds[socket], (uint16_t)port, text, (size_t)length) < 0) {
        snprintf(failure_text, sizeof failure_text, "Cannot send REGISTER: %s", strerror(errno));
        failure = failure_text;
        break;
      }
      slots[slot_count++] = i;
    }
    if (failure) break;
    poll_once(5, on_registered, &r);
    if (r.denied[0]) {
      snprintf(failure_text, sizeof failure_text, "REGISTER was denied: %s", r.denied);
      failure = failure_text;
      break;
    }
    double now = now_ms();
    if (now > deadline) {
      snprintf(failure_text, sizeof failure_text,
               "Registering %ld peers took longer than %.0f ms (%ld done)", count, timeout_ms,
               r.done);
      failure = failure_text;
      break;
    }
    if (now >= next_check) {
      next_check = now + retransmit_ms / 2;
      for (long s = 0; s < slot_count; s++) {
        long i = slots[s];
        if (r.state[i] != 1 || now - r.sent_at[i] < retransmit_ms) continue;
        if (attempts[i] >= max_attempts) {
          snprintf(failure_text, sizeof failure_text, "No answer to REGISTER %s%ld after %d sends",
                   rq_prefix, i, attempts[i]);
          failure = failure_text;
          break;
        }
        int socket = (int)((first_socket + i) % g->size);
        int length =
            snprintf(text, sizeof text, "REGISTER %s%ld %s%ld 127.0.0.1 %u 9%s", rq_prefix, i,
                     name_prefix, name_base + i, g->ports[socket], extensions);
        attempts[i]++;
        retransmits++;
        r.sent_at[i] = now_ms();
        send_text(g->fds[socket], (uint16_t)port, text, (size_t)length);
      }
      if (failure) break;
    }
  }
  if (failure) {
    reply_error("%s", failure);
  } else {
    double elapsed = (count ? r.completed[count - 1] : now_ms()) - start;
    qsort(r.latency, count, sizeof *r.latency, compare_doubles);
    double max = count ? r.latency[count - 1] : 0;
    printf("{\"ok\":true,\"count\":%ld,\"elapsedMs\":%.3f,\"perSecond\":%.1f,\"retransmits\":%ld,"
           "\"latencyMs\":{\"median\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"count\":%ld},"
           "\"windowRates\":[",
           count, elapsed, count && elapsed > 0 ? count / (elapsed / 1e3) : 0, retransmits,
           quantile(r.latency, count, 0.5), quantile(r.latency, count, 0.9),
           quantile(r.latency, count, 0.99), max, count);
    if (window <= 0) window = count;
    int first = 1;
    for (long end = window; end <= count && window > 0; end += window) {
      double from = end == window ? start : r.completed[end - window - 1];
      double ms = r.completed[end - 1] - from;
      printf(first ? "%.1f" : ",%.1f", ms > 0 ? window / (ms / 1e3) : 0);
      first = 0;
    }
    printf("]}\n");
    fflush(stdout);
  }
  free(r.sent_at);
  free(r.latency);
  free(r.completed);
  free(r.state);
  free(attempts);
  free(slots);
}

/* ---------- fanout ---------- */

struct fanout {
  int group;
  int buyer_group;
  long expected;
  long count;
  char rq[128];
  double first, last;
  const char *probe_rq;
  double probe_sent;
  double probe_answered;
  char probe_reply[256];
  long strays;
};

static void on_search(int group, int socket, char *text, size_t length, double at,
                      void *context) {
  (void)socket;
  (void)length;
  struct fanout *f = context;
  if (group == f->buyer_group && f->probe_rq && f->probe_sent > 0 && f->probe_answered == 0) {
    char rq[128];
    second_word(text, rq, sizeof rq);
    if (strcmp(rq, f->probe_rq) == 0) {
      f->probe_answered = at;
      snprintf(f->probe_reply, sizeof f->probe_reply, "%s", text);
    }
    return;
  }
  if (group != f->group || !starts_with(text, "SEARCH ")) return;
  char rq[128];
  second_word(text, rq, sizeof rq);
  if (f->count == 0) {
    snprintf(f->rq, sizeof f->rq, "%s", rq);
    f->first = at;
  } else if (strcmp(rq, f->rq) != 0) {
    f->strays++; /* a straggler from an earlier search */
    return;
  }
  f->last = at;
  f->count++;
}

static void command_fanout(char **argv, int argc) {
  if (argc < 8) return reply_error("fanout needs at least 7 arguments, got %d", argc - 1);
  struct fanout f = {0};
  f.group = atoi(argv[1]);
  f.expected = atol(argv[2]);
  f.buyer_group = atoi(argv[3]);
  int port = atoi(argv[4]);
  double timeout_ms = atof(argv[5]);
  char probe[1024] = "";
  char probe_rq[128] = "";
  if (strcmp(argv[6], "-") != 0) {
    snprintf(probe, sizeof probe, "%s", argv[6]);
    for (char *c = probe; *c; c++) {
      if (*c == '_') *c = ' ';
    }
    second_word(probe, probe_rq, sizeof probe_rq);
    f.probe_rq = probe_rq;
  }
  if (f.group < 0 || f.group >= group_count || f.buyer_group < 0 ||
      f.buyer_group >= group_count) {
    return reply_error("No such group");
  }
  char text[4096] = "";
  for (int a = 7; a < argc; a++) {
    if (a > 7) strncat(text, " ", sizeof text - strlen(text) - 1);
    strncat(text, argv[a], sizeof text - strlen(text) - 1);
  }
  struct group *buyers = &groups[f.buyer_group];
  int buyer = buyers->fds[0];
  /* The probe is another peer: from the group's second socket when it has one. */
  int prober = buyers->fds[buyers->size > 1 ? 1 : 0];
  double start = now_ms();
  if (send_text(buyer, (uint16_t)port, text, strlen(text)) < 0) {
    return reply_error("Cannot send: %s", strerror(errno));
  }
  double deadline = start + timeout_ms;
  /* After the last SEARCH, the probe's answer may still be on its way: wait for it a little. */
  while (now_ms() < deadline) {
    int searches_done = f.count >= f.expected;
    int probe_done = !f.probe_rq || f.probe_answered > 0;
    if (searches_done && probe_done) break;
    poll_once(5, on_search, &f);
    if (f.probe_rq && f.count > 0 && f.probe_sent == 0) {
      f.probe_sent = now_ms();
      send_text(prober, (uint16_t)port, probe, strlen(probe));
    }
  }
  printf("{\"ok\":true,\"received\":%ld,\"lost\":%ld,\"strays\":%ld,\"rq\":", f.count,
         f.expected - f.count, f.strays);
  print_json_string(f.rq);
  printf(",\"firstMs\":%.3f,\"lastMs\":%.3f", f.count ? f.first - start : -1,
         f.count ? f.last - start : -1);
  if (f.probe_rq) {
    printf(",\"probe\":{\"sentMs\":%.3f,\"answeredMs\":%.3f,\"ms\":%.3f,\"reply\":",
           f.probe_sent ? f.probe_sent - start : -1,
           f.probe_answered ? f.probe_answered - start : -1,
           f.probe_answered ? f.probe_answered - f.probe_sent : -1);
    print_json_string(f.probe_reply);
    printf("}");
  }
  printf("}\n");
  fflush(stdout);
}

/* ---------- request ---------- */

struct request {
  int group;
  const char *rq;
  double answered;
  char reply[1024];
};

static void on_reply(int group, int socket, char *text, size_t length, double at,
                     void *context) {
  (void)socket;
  (void)length;
  struct request *r = context;
  if (group != r->group || r->answered > 0) return;
  char rq[128];
  second_word(text, rq, sizeof rq);
  if (strcmp(rq, r->rq) != 0) return;
  r->answered = at;
  snprintf(r->reply, sizeof r->reply, "%s", text);
}

static void command_request(char **argv, int argc) {
  if (argc < 5) return reply_error("request needs at least 4 arguments, got %d", argc - 1);
  int group = atoi(argv[1]);
  int port = atoi(argv[2]);
  double timeout_ms = atof(argv[3]);
  if (group < 0 || group >= group_count) return reply_error("No group %d", group);
  char text[4096] = "";
  for (int a = 4; a < argc; a++) {
    if (a > 4) strncat(text, " ", sizeof text - strlen(text) - 1);
    strncat(text, argv[a], sizeof text - strlen(text) - 1);
  }
  char rq[128];
  second_word(text, rq, sizeof rq);
  struct request r = {.group = group, .rq = rq};
  double start = now_ms();
  if (send_text(groups[group].fds[0], (uint16_t)port, text, strlen(text)) < 0) {
    return reply_error("Cannot send: %s", strerror(errno));
  }
  while (r.answered == 0 && now_ms() < start + timeout_ms) poll_once(5, on_reply, &r);
  if (r.answered == 0) return reply_error("No answer to \"%s\" within %.0f ms", text, timeout_ms);
  printf("{\"ok\":true,\"ms\":%.3f,\"reply\":", r.answered - start);
  print_json_string(r.reply);
  printf("}\n");
  fflush(stdout);
}

int main(void) {
  /* As many sockets as the hard limit allows. */
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    perror("epoll_create1");
    return 1;
  }
  printf("{\"ok\":true,\"ready\":\"loadgen\",\"files\":%ld}\n",
         getrlimit(RLIMIT_NOFILE, &limit) == 0 ? (long)limit.rlim_cur : -1L);
  fflush(stdout);
  static char line[LINE_MAX_LEN];
  while (fgets(line, sizeof line, stdin)) {
    char *argv[256];
    int argc = 0;
    for (char *word = strtok(line, " \r\n"); word && argc < 256; word = strtok(NULL, " \r\n")) {
      argv[argc++] = word;
    }
    if (argc == 0) continue;
    if (strcmp(argv[0], "open") == 0 && argc == 2) {
      command_open(atoi(argv[1]));
    } else if (strcmp(argv[0], "register") == 0) {
      command_register(argv, argc);
    } else if (strcmp(argv[0], "fanout") == 0) {
      command_fanout(argv, argc);
    } else if (strcmp(argv[0], "request") == 0) {
      command_request(argv, argc);
    } else if (strcmp(argv[0], "quit") == 0) {
      break;
    } else {
      reply_error("Unknown command \"%s\"", argv[0]);
    }
  }
  return 0;
}
