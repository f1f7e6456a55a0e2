/*
 * halo_net: the small native part of halo's host networking.
 *
 * Raw IP sockets (VRRP proto 112, ICMP, ICMPv6) with SO_BINDTODEVICE, receive
 * with the metadata VRRP must check (TTL/hop limit, destination, ifindex),
 * send with optional source/ifindex, the multicast and TTL/TOS options, and a
 * one-shot AF_PACKET send of a full Ethernet frame (gratuitous ARP / NA).
 *
 * Plain Node-API, context-aware: nothing is global. Each environment (main
 * thread or worker_thread) keeps its receive buffer in its instance data, and
 * each socket's uv_poll_t lives on the loop of the environment that opened it.
 * Every socket registers an async cleanup hook so a terminating worker closes
 * its poll handles before its loop is torn down.
 *
 * JS API (wrapped by src/net/raw-socket.ts):
 *   open(family 4|6, protocol 1..255, ifname?) -> handle
 *   startReceive(handle, cb(err, data, src, dst, ttl, ifindex, ihl, totlen))
 *   send(handle, data, destination, source?, ifindex?)
 *   setOption(handle, name, value)   name: ttl|mcastTtl|mcastLoop|tos|checksum
 *   setMulticastInterface(handle, ifname, source?)
 *   membership(handle, join bool, group, ifname)
 *   ref(handle) / unref(handle) / close(handle)
 *   sendFrame(ifname, frame)         AF_PACKET, destination MAC = frame[0..6]
 *   pidfdOpen(pid) -> handle         a process watch: startReceive(handle, cb) calls cb(null) once, when
 *                                    the process exits (pidfd_open(2), Linux 5.3); close(handle) to release
 *
 * Netlink sockets (openNetlink, netlinkBind, ...) share the socket handle; see
 * src/net/netlink-socket.ts and src/net/nl-listener.ts. A notification
 * overrun (the socket error ENOBUFS) arrives as an error callback with that
 * code and receiving goes on, so a watcher can re-dump instead of dying.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif

#define RECV_BUF_SIZE 65536
/* Datagrams handled per poll wakeup; uv_poll is level-triggered, so the rest
 * are read on the next loop turn instead of starving timers. */
#define MAX_BATCH 256

static const napi_type_tag SOCKET_TAG = {0x68616c6f6e65745fULL, 0x72617773636b3031ULL};

typedef struct {
  uint8_t buf[RECV_BUF_SIZE];
} env_data_t;

typedef struct {
  napi_env env;
  int fd;
  int family;
  uv_poll_t poll;
  bool receiving;
  bool dispatching;  /* inside on_readable: JS may close the socket under us */
  bool closing;      /* close started (fd closed, uv_close requested) */
  bool handle_done;  /* uv close callback ran (or handle never needs one) */
  bool js_alive;     /* JS external not yet finalized */
  bool pidfd;        /* a process watch (pidfd): readable once, when the process exits */
  napi_ref callback;
  napi_async_context async_ctx;
  napi_async_cleanup_hook_handle cleanup;
} sock_t;

/* ---------- errors ---------- */

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, uv_err_name(uv_translate_sys_error(err)), msg);
  return NULL;
}

static napi_value throw_arg(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
  return NULL;
}

#define CHECK(call)                                       \
  do {                                                    \
    if ((call) != napi_ok) return NULL; /* JS exception */ \
  } while (0)

/* ---------- argument helpers (return false after throwing) ---------- */

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

static bool is_type(napi_env env, napi_value v, napi_valuetype t) {
  napi_valuetype got;
  return napi_typeof(env, v, &got) == napi_ok && got == t;
}

static bool get_int(napi_env env, napi_value v, int64_t lo, int64_t hi, const char *name, int *out) {
  double d;
  char msg[120];
  /* Range first: converting NaN or a huge double to an integer is undefined behaviour. */
  if (is_type(env, v, napi_number) && napi_get_value_double(env, v, &d) == napi_ok && d >= (double)lo &&
      d <= (double)hi && d == (double)(int64_t)d) {
    *out = (int)d;
    return true;
  }
  snprintf(msg, sizeof msg, "%s must be an integer in [%lld, %lld]", name, (long long)lo, (long long)hi);
  throw_arg(env, msg);
  return false;
}

static bool get_str(napi_env env, napi_value v, char *out, size_t cap, const char *name) {
  size_t len;
  char msg[120];
  if (is_type(env, v, napi_string) && napi_get_value_string_utf8(env, v, out, cap, &len) == napi_ok &&
      len > 0 && len < cap - 1) {
    return true;
  }
  snprintf(msg, sizeof msg, "%s must be a non-empty string shorter than %zu bytes", name, cap - 1);
  throw_arg(env, msg);
  return false;
}

static bool get_ifindex(napi_env env, napi_value v, unsigned *out) {
  char name[IF_NAMESIZE + 1];
  char msg[120];
  if (!get_str(env, v, name, sizeof name, "ifname")) return false;
  *out = if_nametoindex(name);
  if (*out == 0) {
    snprintf(msg, sizeof msg, "interface %s", name);
    throw_errno(env, msg, errno == ENXIO ? ENODEV : errno);
    return false;
  }
  return true;
}

/* Parses an address of the socket's family into out (in_addr or in6_addr). */
static bool get_addr(napi_env env, napi_value v, int family, void *out, const char *name) {
  char s[INET6_ADDRSTRLEN + 1];
  char msg[120];
  if (!get_str(env, v, s, sizeof s, name)) return false;
  if (inet_pton(family, s, out) == 1) return true;
  snprintf(msg, sizeof msg, "%s is not a valid IPv%d address: %s", name, family == AF_INET ? 4 : 6, s);
  throw_arg(env, msg);
  return false;
}

static sock_t *get_sock(napi_env env, napi_value v) {
  bool ok = false;
  void *p = NULL;
  if (!is_type(env, v, napi_external) || napi_check_object_type_tag(env, v, &SOCKET_TAG, &ok) != napi_ok ||
      !ok || napi_get_value_external(env, v, &p) != napi_ok) {
    throw_arg(env, "not a raw socket handle");
    return NULL;
  }
  sock_t *s = p;
  if (s->closing) {
    napi_throw_error(env, "EBADF", "raw socket is closed");
    return NULL;
  }
  return s;
}

/* An IP (raw) socket handle: the IP-only calls refuse netlink sockets. */
static sock_t *get_ip_sock(napi_env env, napi_value v) {
  sock_t *s = get_sock(env, v);
  if (s && s->family == AF_NETLINK) {
    throw_arg(env, "not an IP socket handle");
    return NULL;
  }
  return s;
}

/* ---------- lifetime ---------- */

static void maybe_free(sock_t *s) {
  if (!s->js_alive && s->handle_done) free(s);
}

static void on_handle_closed(uv_handle_t *h) {
  sock_t *s = h->data;
  s->handle_done = true;
  napi_remove_async_cleanup_hook(s->cleanup);
  s->cleanup = NULL;
  maybe_free(s);
}

static void release_js(sock_t *s) {
  if (s->callback) napi_delete_reference(s->env, s->callback);
  s->callback = NULL;
  if (s->async_ctx) napi_async_destroy(s->env, s->async_ctx);
  s->async_ctx = NULL;
}

/* Stops receiving and closes the fd now; the uv handle finishes closing on
 * the next loop turn (on_handle_closed). Safe to call more than once. */
static void sock_close(sock_t *s) {
  if (s->closing) return;
  s->closing = true;
  if (s->receiving) uv_poll_stop(&s->poll);
  s->receiving = false;
  close(s->fd);
  s->fd = -1;
  if (!s->dispatching) release_js(s); /* else on_readable releases them once the callback has returned */
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle; /* same value as s->cleanup; removed in on_handle_closed */
  sock_close(arg);
}

static void on_external_finalized(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  sock_t *s = data;
  s->js_alive = false;
  sock_close(s);
  maybe_free(s);
}

/* ---------- receive ---------- */

/* Calls the socket's callback. From the poll callback (sync=false) it goes
 * through napi_make_callback and a throwing callback becomes an uncaught
 * exception, like a throwing event listener. From drain() (sync=true) the
 * exception stays pending, so it propagates to drain's caller; returns false
 * then. If JS cannot run any more (the environment is being torn down) the
 * datagram is dropped: nothing here may abort the process. */
static bool deliver(sock_t *s, napi_value *argv, size_t argc, bool sync) {
  napi_env env = s->env;
  napi_value fn, global, ignored;
  if (!s->callback || napi_get_reference_value(env, s->callback, &fn) != napi_ok || !fn) return true;
  if (napi_get_global(env, &global) != napi_ok) return true;
  if (sync) return napi_call_function(env, global, fn, argc, argv, &ignored) != napi_pending_exception;
  if (napi_make_callback(env, s->async_ctx, global, fn, argc, argv, &ignored) == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
  return true;
}

static bool deliver_error(sock_t *s, const char *what, int err, bool sync) {
  napi_value argv[1], msg, code;
  char text[160];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  if (napi_create_string_utf8(s->env, text, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_string_utf8(s->env, uv_err_name(uv_translate_sys_error(err)), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_error(s->env, code, msg, &argv[0]) != napi_ok) {
    return true;
  }
  return deliver(s, argv, 1, sync);
}

/* Reads one IP datagram into buf and builds the callback arguments (8).
 * Returns 1 deliverable, 0 dropped (malformed/truncated), -1 errno set. */
static int read_one_ip(sock_t *s, uint8_t *buf, napi_value *argv) {
  napi_env env = s->env;
  struct sockaddr_storage from;
  union {
    struct cmsghdr align;
    uint8_t space[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)) + 64];
  } ctl;
  struct iovec iov = {buf, RECV_BUF_SIZE};
  struct msghdr mh = {&from, sizeof from, &iov, 1, ctl.space, sizeof ctl.space, 0};
  ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
  if (n < 0) return -1;
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return 0;

  char src[INET6_ADDRSTRLEN] = "", dst[INET6_ADDRSTRLEN] = "";
  int ttl = -1, ifindex = 0, ihl = 0, totlen = 0;
  const uint8_t *payload = buf;
  size_t plen = (size_t)n;

  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      ifindex = pi.ipi_ifindex;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      ifindex = (int)pi.ipi6_ifindex;
      inet_ntop(AF_INET6, &pi.ipi6_addr, dst, sizeof dst);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
      memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
    }
  }

  if (s->family == AF_INET) {
    /* Linux raw IPv4 sockets deliver the IP header as received (network
     * byte order, options included). */
    if (n < 20 || (buf[0] >> 4) != 4) return 0;
    ihl = (buf[0] & 0x0f) * 4;
    totlen = (buf[2] << 8) | buf[3];
    if (ihl < 20 || ihl > n || totlen < ihl) return 0;
    if ((size_t)totlen < plen) plen = (size_t)totlen; /* ignore link padding */
    ttl = buf[8];
    inet_ntop(AF_INET, buf + 12, src, sizeof src);
    inet_ntop(AF_INET, buf + 16, dst, sizeof dst);
    payload = buf + ihl;
    plen -= (size_t)ihl;
  } else {
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, src, sizeof src);
  }

  if (napi_create_buffer_copy(env, plen, payload, NULL, &argv[1]) != napi_ok) return 0;
  napi_get_null(env, &argv[0]);
  napi_create_string_utf8(env, src, NAPI_AUTO_LENGTH, &argv[2]);
  napi_create_string_utf8(env, dst, NAPI_AUTO_LENGTH, &argv[3]);
  napi_create_int32(env, ttl, &argv[4]);
  napi_create_int32(env, ifindex, &argv[5]);
  napi_create_int32(env, ihl, &argv[6]);
  napi_create_int32(env, totlen, &argv[7]);
  return 1;
}

/* Reads one netlink datagram: callback(null, data, port, groups, truncatedLength).
 * A datagram larger than the buffer is delivered cut, with its real length in
 * truncatedLength (0 otherwise). Returns 1 deliverable, -1 errno set. */
static int read_one_netlink(sock_t *s, uint8_t *buf, napi_value *argv) {
  napi_env env = s->env;
  struct sockaddr_nl from;
  struct iovec iov = {buf, RECV_BUF_SIZE};
  struct msghdr mh = {&from, sizeof from, &iov, 1, NULL, 0, 0};
  memset(&from, 0, sizeof from);
  /* MSG_TRUNC: the return value is the datagram's real length. */
  ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
  if (n < 0) return -1;
  size_t len = (size_t)n > RECV_BUF_SIZE ? RECV_BUF_SIZE : (size_t)n;
  if (napi_create_buffer_copy(env, len, buf, NULL, &argv[1]) != napi_ok) return 0;
  napi_get_null(env, &argv[0]);
  napi_create_uint32(env, from.nl_pid, &argv[2]);
  napi_create_uint32(env, from.nl_groups, &argv[3]);
  napi_create_int64(env, (size_t)n > len ? (int64_t)n : 0, &argv[4]);
  return 1;
}

/* Reads and delivers up to MAX_BATCH queued datagrams. Returns how many were
 * delivered, or -1 when a sync callback threw (the exception is pending). */
static int receive_batch(sock_t *s, env_data_t *ed, bool sync) {
  napi_env env = s->env;
  int delivered = 0;
  bool netlink = s->family == AF_NETLINK;
  s->dispatching = true;
  for (int i = 0; i < MAX_BATCH && !s->closing; i++) {
    napi_handle_scope inner;
    napi_value argv[8];
    if (napi_open_handle_scope(env, &inner) != napi_ok) break;
    int r = netlink ? read_one_netlink(s, ed->buf, argv) : read_one_ip(s, ed->buf, argv);
    int err = errno;
    bool ok = true;
    if (r > 0) {
      ok = deliver(s, argv, netlink ? 5 : 8, sync);
      if (ok) delivered++;
    } else if (r < 0 && err != EINTR && err != EAGAIN && err != EWOULDBLOCK) {
      ok = deliver_error(s, "recvmsg", err, sync);
    }
    napi_close_handle_scope(env, inner);
    if (!ok) {
      delivered = -1;
      break;
    }
    if (r < 0 && err != EINTR) break;
  }
  s->dispatching = false;
  if (s->closing) release_js(s);
  return delivered;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  sock_t *s = h->data;
  napi_env env = s->env;
  env_data_t *ed = NULL;
  (void)events;
  if (s->closing) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF and stops the handle. On a socket that is a pending socket error
     * (a netlink overrun: ENOBUFS): report it with its own code, clear it (SO_ERROR) and keep receiving. */
    int soerr = 0;
    socklen_t len = sizeof soerr;
    bool sock_error = !s->pidfd && getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0;
    s->dispatching = true;
    if (sock_error) deliver_error(s, "recvmsg", soerr, false);
    else deliver_error(s, "poll", -status, false);
    s->dispatching = false;
    if (s->closing) release_js(s);
    else if (sock_error && s->receiving && uv_poll_start(&s->poll, UV_READABLE, on_readable) < 0) s->receiving = false;
  } else if (s->pidfd) {
    /* The process has exited: report it once and stop polling (a pidfd stays readable). */
    napi_value argv[1];
    uv_poll_stop(&s->poll);
    s->receiving = false;
    napi_get_null(env, &argv[0]);
    s->dispatching = true;
    deliver(s, argv, 1, false);
    s->dispatching = false;
    if (s->closing) release_js(s);
  } else if (napi_get_instance_data(env, (void **)&ed) == napi_ok && ed) {
    receive_batch(s, ed, false);
  }
  napi_close_handle_scope(env, scope);
}

/* ---------- exported functions ---------- */

/* Wraps an open, nonblocking fd in a socket handle (a type-tagged external).
 * Closes fd and returns NULL after throwing on failure. */
static napi_value wrap_fd(napi_env env, int fd, int family, const char *resource, bool pidfd) {
  napi_value handle;
  uv_loop_t *loop;
  sock_t *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->pidfd = pidfd;
  s->js_alive = true;
  s->poll.data = s;
  int rc = napi_get_uv_event_loop(env, &loop) != napi_ok ? UV_EINVAL
           : pidfd                                       ? uv_poll_init(loop, &s->poll, fd)
                                                         : uv_poll_init_socket(loop, &s->poll, fd);
  if (rc < 0) {
    close(fd);
    free(s);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  /* From here on the handle must be closed through sock_close. */
  napi_value name;
  if (napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &s->async_ctx) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup) != napi_ok ||
      napi_create_external(env, s, on_external_finalized, NULL, &handle) != napi_ok) {
    s->js_alive = false;
    sock_close(s);
    napi_throw_error(env, "ENOMEM", "cannot set up the socket handle");
    return NULL;
  }
  if (napi_type_tag_object(env, handle, &SOCKET_TAG) != napi_ok) {
    sock_close(s); /* the external's finalizer frees it */
    napi_throw_error(env, "ENOTSUP", "this Node.js cannot type-tag externals (needs Node-API 8 with external tags)");
    return NULL;
  }
  return handle;
}

static napi_value wrap_socket(napi_env env, int fd, int family, const char *resource) {
  return wrap_fd(env, fd, family, resource, false);
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int version, protocol;
  char ifname[IF_NAMESIZE + 1] = "";
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_int(env, argv[0], 4, 6, "family", &version) || version == 5) return throw_arg(env, "family must be 4 or 6");
  if (!get_int(env, argv[1], 1, 255, "protocol", &protocol)) return NULL;
  if (!is_type(env, argv[2], napi_undefined) && !get_str(env, argv[2], ifname, sizeof ifname, "ifname")) return NULL;

  int family = version == 4 ? AF_INET : AF_INET6;
  int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int on = 1;
  if (ifname[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "SO_BINDTODEVICE", err);
  }
  if ((family == AF_INET && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) < 0) ||
      (family == AF_INET6 && (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) < 0 ||
                              setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on) < 0))) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt(pktinfo)", err);
  }
  return wrap_socket(env, fd, family, "halo.RawSocket");
}

static napi_value js_start_receive(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  if (!is_type(env, argv[1], napi_function)) return throw_arg(env, "callback must be a function");
  if (s->callback) napi_delete_reference(env, s->callback);
  CHECK(napi_create_reference(env, argv[1], 1, &s->callback));
  if (!s->receiving) {
    int rc = uv_poll_start(&s->poll, UV_READABLE, on_readable);
    if (rc < 0) return throw_errno(env, "uv_poll_start", -rc);
    s->receiving = true;
  }
  return NULL;
}

/* ---------- destinations (shared by send and the advert timer) ---------- */

/* Where one datagram goes: the address, and the IP_PKTINFO / IPV6_PKTINFO
 * control message that picks its source address and interface. Built once,
 * on the JS thread; the advert timer thread only reads it. */
typedef struct {
  struct sockaddr_storage to;
  socklen_t tolen;
  union {
    struct cmsghdr align;
    uint8_t space[CMSG_SPACE(sizeof(struct in6_pktinfo))];
  } ctl;
  size_t ctllen;
} dest_t;

/* Fills d for a socket of `family`; source may be undefined. Returns false after throwing. */
static bool build_dest(napi_env env, int family, napi_value destination, napi_value source, int ifindex, dest_t *d) {
  bool has_src = !is_type(env, source, napi_undefined);
  memset(d, 0, sizeof *d);
  struct cmsghdr *c = (struct cmsghdr *)d->ctl.space;
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&d->to;
    sin->sin_family = AF_INET;
    d->tolen = sizeof *sin;
    if (!get_addr(env, destination, AF_INET, &sin->sin_addr, "destination")) return false;
    if (has_src || ifindex) {
      struct in_pktinfo pi = {0};
      if (has_src && !get_addr(env, source, AF_INET, &pi.ipi_spec_dst, "source")) return false;
      pi.ipi_ifindex = ifindex;
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      d->ctllen = CMSG_SPACE(sizeof pi);
    }
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&d->to;
    sin6->sin6_family = AF_INET6;
    d->tolen = sizeof *sin6;
    if (!get_addr(env, destination, AF_INET6, &sin6->sin6_addr, "destination")) return false;
    /* Link-scoped destinations need the interface as the scope id. */
    if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&sin6->sin6_addr)) {
      sin6->sin6_scope_id = (uint32_t)ifindex;
    }
    if (has_src || ifindex) {
      struct in6_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      if (has_src && !get_addr(env, source, AF_INET6, &pi.ipi6_addr, "source")) return false;
      pi.ipi6_ifindex = (unsigned)ifindex;
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      d->ctllen = CMSG_SPACE(sizeof pi);
    }
  }
  return true;
}

/* One nonblocking sendmsg; returns 0 or the errno. Safe on any thread (reads d only). */
static int send_to(int fd, const dest_t *d, const void *data, size_t len) {
  struct iovec iov = {(void *)data, len};
  struct msghdr mh = {(void *)&d->to, d->tolen, &iov, 1, d->ctllen ? (void *)d->ctl.space : NULL, d->ctllen, 0};
  ssize_t n;
  do {
    n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? errno : 0;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  void *data;
  size_t len;
  int ifindex = 0;
  dest_t d;
  if (!get_args(env, info, 5, argv)) return NULL;
  sock_t *s = get_ip_sock(env, argv[0]);
  if (!s) return NULL;
  bool isbuf = false;
  napi_is_buffer(env, argv[1], &isbuf);
  if (!isbuf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_arg(env, "data must be a Buffer");
  if (len > 65000) return throw_arg(env, "data is larger than 65000 bytes");
  if (!is_type(env, argv[4], napi_undefined) && !get_int(env, argv[4], 1, INT32_MAX, "ifindex", &ifindex)) return NULL;
  if (!build_dest(env, s->family, argv[2], argv[3], ifindex, &d)) return NULL;
  int err = send_to(s->fd, &d, data, len);
  if (err) return throw_errno(env, "sendmsg", err);
  return NULL;
}

static napi_value js_set_option(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[16];
  int value, level, opt, lo = 0, hi = 255;
  if (!get_args(env, info, 3, argv)) return NULL;
  sock_t *s = get_ip_sock(env, argv[0]);
  if (!s || !get_str(env, argv[1], name, sizeof name, "option")) return NULL;
  bool v4 = s->family == AF_INET;
  level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
  if (!strcmp(name, "ttl")) {
    opt = v4 ? IP_TTL : IPV6_UNICAST_HOPS;
    lo = 1;
  } else if (!strcmp(name, "mcastTtl")) {
    opt = v4 ? IP_MULTICAST_TTL : IPV6_MULTICAST_HOPS;
  } else if (!strcmp(name, "mcastLoop")) {
    opt = v4 ? IP_MULTICAST_LOOP : IPV6_MULTICAST_LOOP;
    hi = 1;
  } else if (!strcmp(name, "tos")) {
    opt = v4 ? IP_TOS : IPV6_TCLASS;
  } else if (!strcmp(name, "checksum") && !v4) {
    opt = IPV6_CHECKSUM; /* offset of the checksum field in the payload, or -1 */
    lo = -1;
    hi = 65534;
  } else {
    return throw_arg(env, "unknown socket option for this family");
  }
  if (!get_int(env, argv[2], lo, hi, name, &value)) return NULL;
  if (opt == IPV6_CHECKSUM && value >= 0 && value % 2) return throw_arg(env, "checksum offset must be even");
  if (setsockopt(s->fd, level, opt, &value, sizeof value) < 0) return throw_errno(env, name, errno);
  return NULL;
}

static napi_value js_set_multicast_interface(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  unsigned ifindex;
  int rc;
  if (!get_args(env, info, 3, argv)) return NULL;
  sock_t *s = get_ip_sock(env, argv[0]);
  if (!s || !get_ifindex(env, argv[1], &ifindex)) return NULL;
  if (s->family == AF_INET) {
    struct ip_mreqn mr;
    memset(&mr, 0, sizeof mr);
    mr.imr_ifindex = (int)ifindex;
    if (!is_type(env, argv[2], napi_undefined) && !get_addr(env, argv[2], AF_INET, &mr.imr_address, "source")) {
      return NULL;
    }
    rc = setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr);
  } else {
    int idx = (int)ifindex; /* IPv6 picks the source itself (send's source overrides) */
    rc = setsockopt(s->fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx);
  }
  if (rc < 0) return throw_errno(env, "multicast interface", errno);
  return NULL;
}

static napi_value js_membership(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  bool join;
  unsigned ifindex;
  int rc;
  if (!get_args(env, info, 4, argv)) return NULL;
  sock_t *s = get_ip_sock(env, argv[0]);
  if (!s) return NULL;
  if (!is_type(env, argv[1], napi_boolean) || napi_get_value_bool(env, argv[1], &join) != napi_ok) {
    return throw_arg(env, "join must be a boolean");
  }
  if (s->family == AF_INET) {
    struct ip_mreqn mr;
    memset(&mr, 0, sizeof mr);
    if (!get_addr(env, argv[2], AF_INET, &mr.imr_multiaddr, "group") || !get_ifindex(env, argv[3], &ifindex)) {
      return NULL;
    }
    if (!IN_MULTICAST(ntohl(mr.imr_multiaddr.s_addr))) return throw_arg(env, "group is not a multicast address");
    mr.imr_ifindex = (int)ifindex;
    rc = setsockopt(s->fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mr, sizeof mr);
  } else {
    struct ipv6_mreq mr;
    if (!get_addr(env, argv[2], AF_INET6, &mr.ipv6mr_multiaddr, "group") || !get_ifindex(env, argv[3], &ifindex)) {
      return NULL;
    }
    if (!IN6_IS_ADDR_MULTICAST(&mr.ipv6mr_multiaddr)) return throw_arg(env, "group is not a multicast address");
    mr.ipv6mr_interface = ifindex;
    rc = setsockopt(s->fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &mr, sizeof mr);
  }
  if (rc < 0) return throw_errno(env, join ? "join group" : "leave group", errno);
  return NULL;
}

static napi_value js_ref_unref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool ref;
  if (!get_args(env, info, 2, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  if (!is_type(env, argv[1], napi_boolean) || napi_get_value_bool(env, argv[1], &ref) != napi_ok) {
    return throw_arg(env, "ref must be a boolean");
  }
  if (ref) {
    uv_ref((uv_handle_t *)&s->poll);
  } else {
    uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *p = NULL;
  bool ok = false;
  if (!get_args(env, info, 1, argv)) return NULL;
  /* Closing twice is allowed, so do not use get_sock (it rejects closed). */
  if (!is_type(env, argv[0], napi_external) || napi_check_object_type_tag(env, argv[0], &SOCKET_TAG, &ok) != napi_ok ||
      !ok || napi_get_value_external(env, argv[0], &p) != napi_ok) {
    return throw_arg(env, "not a raw socket handle");
  }
  sock_close(p);
  return NULL;
}

static napi_value js_send_frame(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  unsigned ifindex;
  void *data;
  size_t len;
  bool isbuf = false;
  if (!get_args(env, info, 2, argv) || !get_ifindex(env, argv[0], &ifindex)) return NULL;
  napi_is_buffer(env, argv[1], &isbuf);
  if (!isbuf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_arg(env, "frame must be a Buffer");
  if (len < 14 || len > 1514) return throw_arg(env, "frame must be a full Ethernet frame of 14..1514 bytes");
  const uint8_t *f = data;
  /* Protocol 0: this socket only sends, it never queues received frames. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  struct sockaddr_ll ll;
  memset(&ll, 0, sizeof ll);
  ll.sll_family = AF_PACKET;
  ll.sll_ifindex = (int)ifindex;
  memcpy(&ll.sll_protocol, f + 12, 2); /* ethertype, already network order */
  ll.sll_halen = 6;
  memcpy(ll.sll_addr, f, 6);
  ssize_t n = sendto(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&ll, sizeof ll);
  int err = errno;
  close(fd);
  if (n < 0) return throw_errno(env, "sendto(AF_PACKET)", err);
  return NULL;
}

/* ---------- drain ---------- */

/* Reads every datagram queued on the socket now, synchronously, through the
 * receive callback. The VRRP engine calls it before acting on an expired
 * master-down timer: after a stall, Node runs expired timers before it polls
 * sockets, and adverts that arrived in time must count before the timer does.
 * A throwing callback stops the batch and the exception propagates. */
static napi_value js_drain(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  env_data_t *ed = NULL;
  int n = 0;
  if (!get_args(env, info, 1, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  if (!s->callback) return throw_arg(env, "drain: the socket is not receiving (call startReceive first)");
  /* Called from inside this socket's own callback: the batch in progress reads the rest. */
  if (!s->dispatching) {
    if (napi_get_instance_data(env, (void **)&ed) != napi_ok || !ed) {
      napi_throw_error(env, "EINVAL", "halo_net: no per-environment state");
      return NULL;
    }
    n = receive_batch(s, ed, true);
    if (n < 0) return NULL; /* the callback threw */
  }
  CHECK(napi_create_int32(env, n, &out));
  return out;
}

/* ---------- process watches ---------- */

static napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int pid;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], 1, 4194304, "pid", &pid)) return NULL;
  int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) return throw_errno(env, "pidfd_open", errno);
  return wrap_fd(env, fd, 0, "halo.ProcessWatch", true);
}

/* ---------- netlink sockets ---------- */

/* The same socket handle as the raw IP sockets (receive, ref/unref, close
 * and drain are shared), opened on AF_NETLINK. halo uses these instead of
 * the `netlink` package's C++ binding, whose libuv callbacks throw C++
 * exceptions (std::terminate, exit 134) when JS cannot run or a callback
 * throws; here every failure is a JS error or a dropped datagram. */

static bool get_u32(napi_env env, napi_value v, const char *name, uint32_t *out) {
  double d;
  char msg[120];
  if (is_type(env, v, napi_number) && napi_get_value_double(env, v, &d) == napi_ok && d >= 0 &&
      d <= 4294967295.0 && d == (double)(uint32_t)d) {
    *out = (uint32_t)d;
    return true;
  }
  snprintf(msg, sizeof msg, "%s must be an integer in [0, 4294967295]", name);
  throw_arg(env, msg);
  return false;
}

static sock_t *get_nl_sock(napi_env env, napi_value v) {
  sock_t *s = get_sock(env, v);
  if (s && s->family != AF_NETLINK) {
    throw_arg(env, "not a netlink socket handle");
    return NULL;
  }
  return s;
}

static napi_value js_open_netlink(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int protocol;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], 0, 31, "protocol", &protocol)) return NULL;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, "socket(AF_NETLINK)", errno);
  return wrap_socket(env, fd, AF_NETLINK, "halo.NetlinkSocket");
}

static napi_value js_netlink_bind(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct sockaddr_nl a;
  memset(&a, 0, sizeof a);
  a.nl_family = AF_NETLINK;
  if (!get_args(env, info, 3, argv)) return NULL;
  sock_t *s = get_nl_sock(env, argv[0]);
  if (!s || !get_u32(env, argv[1], "port", &a.nl_pid) || !get_u32(env, argv[2], "groups", &a.nl_groups)) return NULL;
  if (bind(s->fd, (struct sockaddr *)&a, sizeof a) < 0) return throw_errno(env, "bind(AF_NETLINK)", errno);
  return NULL;
}

/* send(handle, Buffer | Buffer[], port, groups): one datagram, synchronously. */
static napi_value js_netlink_send(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  struct iovec iov[64];
  uint32_t count = 1;
  bool is_array = false, isbuf = false;
  struct sockaddr_nl to;
  memset(&to, 0, sizeof to);
  to.nl_family = AF_NETLINK;
  if (!get_args(env, info, 4, argv)) return NULL;
  sock_t *s = get_nl_sock(env, argv[0]);
  if (!s || !get_u32(env, argv[2], "port", &to.nl_pid) || !get_u32(env, argv[3], "groups", &to.nl_groups)) return NULL;
  napi_is_array(env, argv[1], &is_array);
  if (is_array) {
    CHECK(napi_get_array_length(env, argv[1], &count));
    if (count == 0 || count > 64) return throw_arg(env, "data must be 1..64 Buffers");
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value b = argv[1];
    if (is_array) CHECK(napi_get_element(env, argv[1], i, &b));
    napi_is_buffer(env, b, &isbuf);
    if (!isbuf || napi_get_buffer_info(env, b, &iov[i].iov_base, &iov[i].iov_len) != napi_ok) {
      return throw_arg(env, "data must be a Buffer or an array of Buffers");
    }
  }
  struct msghdr mh = {&to, sizeof to, iov, count, NULL, 0, 0};
  ssize_t n;
  do {
    n = sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "sendmsg(AF_NETLINK)", errno);
  return NULL;
}

static napi_value js_netlink_membership(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  bool join;
  uint32_t group;
  if (!get_args(env, info, 3, argv)) return NULL;
  sock_t *s = get_nl_sock(env, argv[0]);
  if (!s) return NULL;
  if (!is_type(env, argv[1], napi_boolean) || napi_get_value_bool(env, argv[1], &join) != napi_ok) {
    return throw_arg(env, "join must be a boolean");
  }
  if (!get_u32(env, argv[2], "group", &group)) return NULL;
  if (setsockopt(s->fd, SOL_NETLINK, join ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, &group, sizeof group) < 0) {
    return throw_errno(env, join ? "NETLINK_ADD_MEMBERSHIP" : "NETLINK_DROP_MEMBERSHIP", errno);
  }
  return NULL;
}

static napi_value js_netlink_address(napi_env env, napi_callback_info info) {
  napi_value argv[1], out, v;
  struct sockaddr_nl a;
  socklen_t len = sizeof a;
  if (!get_args(env, info, 1, argv)) return NULL;
  sock_t *s = get_nl_sock(env, argv[0]);
  if (!s) return NULL;
  if (getsockname(s->fd, (struct sockaddr *)&a, &len) < 0) return throw_errno(env, "getsockname", errno);
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_uint32(env, a.nl_pid, &v));
  CHECK(napi_set_named_property(env, out, "port", v));
  CHECK(napi_create_uint32(env, a.nl_groups, &v));
  CHECK(napi_set_named_property(env, out, "groups", v));
  return out;
}

/* bufferSize(handle, 'rcv' | 'snd', size?): sets the buffer (SO_RCVBUFFORCE / SO_SNDBUFFORCE when allowed, else
 * SO_RCVBUF / SO_SNDBUF) when size is given; returns the current value. */
static napi_value js_buffer_size(napi_env env, napi_callback_info info) {
  napi_value argv[3], out;
  char which[8];
  int size, opt;
  socklen_t len = sizeof size;
  if (!get_args(env, info, 3, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s || !get_str(env, argv[1], which, sizeof which, "which")) return NULL;
  if (!strcmp(which, "rcv")) {
    opt = SO_RCVBUF;
  } else if (!strcmp(which, "snd")) {
    opt = SO_SNDBUF;
  } else {
    return throw_arg(env, "which must be 'rcv' or 'snd'");
  }
  if (!is_type(env, argv[2], napi_undefined)) {
    if (!get_int(env, argv[2], 1, INT32_MAX / 2, "size", &size)) return NULL;
    /* Root (CAP_NET_ADMIN) may go past net.core.rmem_max / wmem_max with the FORCE options; others are capped. */
    int force = opt == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;
    if (setsockopt(s->fd, SOL_SOCKET, force, &size, sizeof size) < 0 &&
        setsockopt(s->fd, SOL_SOCKET, opt, &size, sizeof size) < 0) {
      return throw_errno(env, "setsockopt(buffer size)", errno);
    }
  }
  if (getsockopt(s->fd, SOL_SOCKET, opt, &size, &len) < 0) return throw_errno(env, "getsockopt(buffer size)", errno);
  CHECK(napi_create_int32(env, size, &out));
  return out;
}

/* ---------- thread scheduling ---------- */

/* keepalived gives its VRRP process SCHED_RR, a nice value, a CPU set, an
 * RLIMIT_RTTIME and mlockall. halo's VRRP part is a thread (and the advert
 * timer threads below), so these apply per thread id (gettid), never to the
 * whole process: the checker thread, libuv's pool and V8's helpers keep
 * their normal scheduling. tid 0 means the calling thread; any other tid must
 * be a thread of this process. */

static bool get_tid(napi_env env, napi_value v, pid_t *out) {
  int tid;
  if (!get_int(env, v, 0, INT32_MAX, "tid", &tid)) return false;
  if (tid == 0) tid = (int)gettid();
  /* tgkill with signal 0 only checks that the thread exists in our thread group. */
  if (syscall(SYS_tgkill, getpid(), tid, 0) < 0) {
    char msg[64];
    snprintf(msg, sizeof msg, "thread %d of this process", tid);
    throw_errno(env, msg, errno);
    return false;
  }
  *out = tid;
  return true;
}

static const struct {
  const char *name;
  int policy;
} POLICIES[] = {
    {"other", SCHED_OTHER}, {"rr", SCHED_RR}, {"fifo", SCHED_FIFO}, {"batch", SCHED_BATCH}, {"idle", SCHED_IDLE},
};

static napi_value js_thread_id(napi_env env, napi_callback_info info) {
  napi_value out;
  (void)info;
  CHECK(napi_create_int32(env, (int32_t)gettid(), &out));
  return out;
}

/* peerCredentials(fd): the kernel's word (SO_PEERCRED) on who is at the other end of a connected Unix
 * socket: { pid, uid, gid } of the process that connected. The control socket records it as the origin
 * of an operator's change (`halo rs drain ...`). */
static napi_value js_peer_credentials(napi_env env, napi_callback_info info) {
  napi_value argv[1], out, v;
  int fd;
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, "fd", &fd)) return NULL;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return throw_errno(env, "getsockopt(SO_PEERCRED)", errno);
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_int32(env, (int32_t)cred.pid, &v));
  CHECK(napi_set_named_property(env, out, "pid", v));
  CHECK(napi_create_uint32(env, (uint32_t)cred.uid, &v));
  CHECK(napi_set_named_property(env, out, "uid", v));
  CHECK(napi_create_uint32(env, (uint32_t)cred.gid, &v));
  CHECK(napi_set_named_property(env, out, "gid", v));
  return out;
}

/* setScheduler(tid, 'other'|'rr'|'fifo'|'batch'|'idle', priority): SCHED_RESET_ON_FORK
 * always, as keepalived: a script forked from this thread must not run realtime. */
static napi_value js_set_scheduler(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[8];
  int priority, policy = -1;
  pid_t tid;
  if (!get_args(env, info, 3, argv) || !get_tid(env, argv[0], &tid) || !get_str(env, argv[1], name, sizeof name, "policy")) {
    return NULL;
  }
  for (size_t i = 0; i < sizeof POLICIES / sizeof POLICIES[0]; i++) {
    if (!strcmp(name, POLICIES[i].name)) policy = POLICIES[i].policy;
  }
  if (policy < 0) return throw_arg(env, "policy must be other, rr, fifo, batch or idle");
  int lo = sched_get_priority_min(policy), hi = sched_get_priority_max(policy);
  if (!get_int(env, argv[2], lo, hi, "priority", &priority)) return NULL;
  struct sched_param sp = {.sched_priority = priority};
  if (sched_setscheduler(tid, policy | SCHED_RESET_ON_FORK, &sp) < 0) return throw_errno(env, "sched_setscheduler", errno);
  return NULL;
}

/* getScheduler(tid) -> { policy, priority, resetOnFork } */
static napi_value js_get_scheduler(napi_env env, napi_callback_info info) {
  napi_value argv[1], out, v;
  pid_t tid;
  struct sched_param sp;
  if (!get_args(env, info, 1, argv) || !get_tid(env, argv[0], &tid)) return NULL;
  int p = sched_getscheduler(tid);
  if (p < 0 || sched_getparam(tid, &sp) < 0) return throw_errno(env, "sched_getscheduler", errno);
  const char *name = "unknown";
  for (size_t i = 0; i < sizeof POLICIES / sizeof POLICIES[0]; i++) {
    if ((p & ~SCHED_RESET_ON_FORK) == POLICIES[i].policy) name = POLICIES[i].name;
  }
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "policy", v));
  CHECK(napi_create_int32(env, sp.sched_priority, &v));
  CHECK(napi_set_named_property(env, out, "priority", v));
  CHECK(napi_get_boolean(env, (p & SCHED_RESET_ON_FORK) != 0, &v));
  CHECK(napi_set_named_property(env, out, "resetOnFork", v));
  return out;
}

/* nice(tid, value?): sets the thread's nice value when given (PRIO_PROCESS with a tid is per thread on Linux); returns it. */
static napi_value js_nice(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  pid_t tid;
  int nice;
  if (!get_args(env, info, 2, argv) || !get_tid(env, argv[0], &tid)) return NULL;
  if (!is_type(env, argv[1], napi_undefined)) {
    if (!get_int(env, argv[1], -20, 19, "nice", &nice)) return NULL;
    if (setpriority(PRIO_PROCESS, (id_t)tid, nice) < 0) return throw_errno(env, "setpriority", errno);
  }
  errno = 0;
  nice = getpriority(PRIO_PROCESS, (id_t)tid);
  if (nice == -1 && errno) return throw_errno(env, "getpriority", errno);
  CHECK(napi_create_int32(env, nice, &out));
  return out;
}

/* affinity(tid, cpus?): sets the thread's CPU set when given; returns it as an array of CPU numbers. */
static napi_value js_affinity(napi_env env, napi_callback_info info) {
  napi_value argv[2], out, v;
  pid_t tid;
  cpu_set_t set;
  bool is_array = false;
  if (!get_args(env, info, 2, argv) || !get_tid(env, argv[0], &tid)) return NULL;
  if (!is_type(env, argv[1], napi_undefined)) {
    uint32_t n;
    napi_is_array(env, argv[1], &is_array);
    if (!is_array || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0) {
      return throw_arg(env, "cpus must be a non-empty array of CPU numbers");
    }
    CPU_ZERO(&set);
    for (uint32_t i = 0; i < n; i++) {
      int cpu;
      CHECK(napi_get_element(env, argv[1], i, &v));
      if (!get_int(env, v, 0, CPU_SETSIZE - 1, "cpu", &cpu)) return NULL;
      CPU_SET(cpu, &set);
    }
    if (sched_setaffinity(tid, sizeof set, &set) < 0) return throw_errno(env, "sched_setaffinity", errno);
  }
  if (sched_getaffinity(tid, sizeof set, &set) < 0) return throw_errno(env, "sched_getaffinity", errno);
  CHECK(napi_create_array(env, &out));
  uint32_t k = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &set)) continue;
    CHECK(napi_create_int32(env, cpu, &v));
    CHECK(napi_set_element(env, out, k++, v));
  }
  return out;
}

/* keepalived's *_no_swap is mlockall(). That is not safe in a Node.js process: V8 gives pages back
 * with madvise(MADV_DONTNEED), which fails with EINVAL on locked memory, and V8 treats that as a
 * fatal error (seen: an isolate teardown aborting with "Check failed: 0 == ret"). So halo locks what
 * the advert timer thread touches instead: its stack, its state and packets (each timer's own locked
 * mappings, below) and the code it runs, i.e. the loaded segments of this addon and of libc
 * (lockCode). The JavaScript threads' memory is never locked. */

static int lock_segments(struct dl_phdr_info *info, size_t size, void *arg) {
  uint64_t *bytes = arg;
  (void)size;
  const char *name = info->dlpi_name ? info->dlpi_name : "";
  Dl_info self;
  /* This addon, and the libc that holds sendmsg and the pthread calls. */
  bool ours = dladdr((void *)lock_segments, &self) && self.dli_fname && !strcmp(self.dli_fname, name);
  bool libc = strstr(name, "/libc.so") != NULL;
  if (!ours && !libc) return 0;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
    uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + page - 1) & ~(page - 1);
    if (mlock((void *)start, end - start) < 0) return errno;
    *bytes += end - start;
  }
  return 0;
}

/* lockCode() -> bytes: mlock the loaded segments of this addon and libc (idempotent). */
static napi_value js_lock_code(napi_env env, napi_callback_info info) {
  napi_value out;
  uint64_t bytes = 0;
  (void)info;
  int err = dl_iterate_phdr(lock_segments, &bytes);
  if (err) return throw_errno(env, "mlock(code)", err);
  CHECK(napi_create_double(env, (double)bytes, &out));
  return out;
}

static napi_value rlim_value(napi_env env, rlim_t r) {
  napi_value v;
  if (r == RLIM_INFINITY) {
    napi_create_double(env, INFINITY, &v);
  } else {
    napi_create_double(env, (double)r, &v);
  }
  return v;
}

static bool get_rlim(napi_env env, napi_value v, const char *name, rlim_t *out) {
  double d;
  char msg[120];
  if (is_type(env, v, napi_number) && napi_get_value_double(env, v, &d) == napi_ok) {
    if (d == INFINITY) {
      *out = RLIM_INFINITY;
      return true;
    }
    if (d >= 0 && d <= 1e15 && d == (double)(uint64_t)d) {
      *out = (rlim_t)d;
      return true;
    }
  }
  snprintf(msg, sizeof msg, "%s must be a non-negative integer (microseconds) or Infinity", name);
  throw_arg(env, msg);
  return false;
}

/* rtTimeLimit(soft?, hard?): sets RLIMIT_RTTIME (microseconds of CPU a realtime thread may use
 * without blocking; SIGXCPU at soft, SIGKILL at hard) when given; returns { soft, hard }. */
static napi_value js_rt_time_limit(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  struct rlimit rl;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!is_type(env, argv[0], napi_undefined)) {
    if (!get_rlim(env, argv[0], "soft", &rl.rlim_cur) || !get_rlim(env, argv[1], "hard", &rl.rlim_max)) return NULL;
    if (rl.rlim_cur > rl.rlim_max) return throw_arg(env, "soft must not exceed hard");
    if (setrlimit(RLIMIT_RTTIME, &rl) < 0) return throw_errno(env, "setrlimit(RLIMIT_RTTIME)", errno);
  }
  if (getrlimit(RLIMIT_RTTIME, &rl) < 0) return throw_errno(env, "getrlimit(RLIMIT_RTTIME)", errno);
  CHECK(napi_create_object(env, &out));
  CHECK(napi_set_named_property(env, out, "soft", rlim_value(env, rl.rlim_cur)));
  CHECK(napi_set_named_property(env, out, "hard", rlim_value(env, rl.rlim_max)));
  return out;
}

/* SIGXCPU (RLIMIT_RTTIME's soft limit) would kill the process by default. The one piece of
 * process-wide state in this addon (signals are per process): a counter the handler bumps. */
static atomic_uint_fast64_t sigxcpu_count;

static void on_sigxcpu(int sig) {
  (void)sig;
  atomic_fetch_add(&sigxcpu_count, 1);
}

/* watchSigxcpu() -> true when our handler is (now) installed; false if someone else handles SIGXCPU. */
static napi_value js_watch_sigxcpu(napi_env env, napi_callback_info info) {
  napi_value out;
  struct sigaction old, sa;
  (void)info;
  if (sigaction(SIGXCPU, NULL, &old) < 0) return throw_errno(env, "sigaction", errno);
  bool ours = old.sa_handler == on_sigxcpu;
  if (!ours && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO)) {
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigxcpu;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGXCPU, &sa, NULL) < 0) return throw_errno(env, "sigaction", errno);
    ours = true;
  }
  CHECK(napi_get_boolean(env, ours, &out));
  return out;
}

static napi_value js_sigxcpu_count(napi_env env, napi_callback_info info) {
  napi_value out;
  (void)info;
  CHECK(napi_create_double(env, (double)atomic_load(&sigxcpu_count), &out));
  return out;
}

/* ---------- the advert timer ---------- */

/* A thread that sends prebuilt VRRP adverts on an absolute CLOCK_MONOTONIC
 * schedule, so neither a starved event loop nor a garbage collection can
 * delay a master's advert. The JS engine stays the authority: it hands over
 * the exact bytes the core would send (set), re-phases on every advert it
 * sends itself, and stops the timer before acting on any state change (stop
 * returns only when no send is in progress, and none follows).
 *
 * The thread sleeps in pthread_cond_timedwait on a CLOCK_MONOTONIC condvar:
 * an absolute deadline like clock_nanosleep(TIMER_ABSTIME), which a set or a
 * stop can cut short. Deadlines advance by exactly one interval (no drift);
 * after a stall longer than an interval the missed slots are skipped, never
 * sent in a burst. The mutex is priority-inheriting: a starved JS thread
 * holding it is boosted, so a realtime timer thread never waits on it for
 * long. All signals are blocked in the thread.
 *
 * Memory: the timer's state, its packets and its stack are mappings of their
 * own, locked (mlock) when asked (vrrp_no_swap), so the send path never takes
 * a page fault to swap; with lockCode() the code it runs is resident too. */

#define TIMER_MAX_PACKETS 64
#define TIMER_STACK_SIZE (64 * 1024)

static const napi_type_tag TIMER_TAG = {0x68616c6f6e65745fULL, 0x61647674696d6572ULL};

typedef struct {
  dest_t dest;
  size_t len;
  uint8_t data[];
} tpkt_t;

/* One mapping holding a set of packets: this header, then the tpkt_t records. */
typedef struct {
  size_t map_size;
  size_t n;
  tpkt_t *p[TIMER_MAX_PACKETS];
} pktset_t;

typedef struct {
  size_t map_size; /* this struct lives in its own mapping */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  void *stack;
  size_t stack_map_size;
  pid_t tid;
  int fd; /* dup of the raw socket's fd: valid until the timer closes, whatever JS does with the socket */
  int family;
  bool lock;     /* lock the mappings in memory */
  int lock_errno; /* the first mlock failure, 0 if none */
  pktset_t *set;
  int64_t interval_ns;
  struct timespec next;
  bool armed, quit, joined;
  uint64_t sent, send_errors, skipped, withheld;
  /* Watchdog: the engine feeds the timer at each of its own advert intervals; a timer not fed for
   * watchdog_ns (0: no watchdog) withholds its adverts, so a wedged engine loses mastership as a dead
   * one would instead of advertising forever. Sending resumes with the next feed. */
  int64_t watchdog_ns, fed_ns;
  int64_t max_late_ns;
  int last_errno;
  bool hook_ran;
} atimer_t;

/* An anonymous private mapping of at least `size` bytes, locked when `lock`; NULL with errno on failure.
 * *err gets the mlock errno (the mapping is still usable unlocked). */
static void *map_locked(size_t *size, bool lock, int *err) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  *size = (*size + page - 1) & ~(page - 1);
  void *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (lock && mlock(p, *size) < 0 && err && !*err) *err = errno;
  return p;
}

static int64_t ts_ns(const struct timespec *t) {
  return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static struct timespec ns_ts(int64_t ns) {
  struct timespec t = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
  return t;
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return ts_ns(&t);
}

static void *timer_main(void *arg) {
  atimer_t *t = arg;
  pthread_mutex_lock(&t->mu);
  t->tid = gettid();
  pthread_cond_broadcast(&t->cv);
  while (!t->quit) {
    if (!t->armed) {
      pthread_cond_wait(&t->cv, &t->mu);
      continue;
    }
    struct timespec deadline = t->next;
    pthread_cond_timedwait(&t->cv, &t->mu, &deadline);
    if (t->quit || !t->armed) continue;
    int64_t now = now_ns(), next = ts_ns(&t->next);
    if (now < next) continue; /* woken by a change (or spuriously): wait for the current deadline */
    if (now - next > t->max_late_ns) t->max_late_ns = now - next;
    bool starved = t->watchdog_ns > 0 && now - t->fed_ns > t->watchdog_ns;
    if (starved) t->withheld++;
    for (size_t i = 0; !starved && t->set && i < t->set->n; i++) {
      tpkt_t *pk = t->set->p[i];
      int err = send_to(t->fd, &pk->dest, pk->data, pk->len);
      if (err) {
        t->send_errors++;
        t->last_errno = err;
      } else {
        t->sent++;
      }
    }
    next += t->interval_ns;
    if (next <= now) {
      /* A whole interval was missed: the next advert is one interval from now, not a burst. */
      t->skipped += (uint64_t)((now - next) / t->interval_ns) + 1;
      next = now + t->interval_ns;
    }
    t->next = ns_ts(next);
  }
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

static void free_set(pktset_t *set) {
  if (set) munmap(set, set->map_size);
}

/* Stops and joins the thread, closes the fd, frees packets and stack. Idempotent; JS thread only. */
static void timer_shutdown(atimer_t *t) {
  if (t->joined) return;
  pthread_mutex_lock(&t->mu);
  t->quit = true;
  t->armed = false;
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  pthread_join(t->thread, NULL);
  t->joined = true;
  close(t->fd);
  t->fd = -1;
  free_set(t->set);
  t->set = NULL;
  munmap(t->stack, t->stack_map_size);
  t->stack = NULL;
}

static void timer_destroy(atimer_t *t) {
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
  munmap(t, t->map_size);
}

static void on_timer_env_cleanup(void *arg) {
  atimer_t *t = arg;
  t->hook_ran = true;
  timer_shutdown(t);
}

static void on_timer_finalized(napi_env env, void *data, void *hint) {
  (void)hint;
  atimer_t *t = data;
  timer_shutdown(t);
  if (!t->hook_ran) napi_remove_env_cleanup_hook(env, on_timer_env_cleanup, t);
  timer_destroy(t);
}

static atimer_t *get_timer(napi_env env, napi_value v) {
  bool ok = false;
  void *p = NULL;
  if (!is_type(env, v, napi_external) || napi_check_object_type_tag(env, v, &TIMER_TAG, &ok) != napi_ok || !ok ||
      napi_get_value_external(env, v, &p) != napi_ok) {
    throw_arg(env, "not an advert timer handle");
    return NULL;
  }
  atimer_t *t = p;
  if (t->joined) {
    napi_throw_error(env, "EBADF", "advert timer is closed");
    return NULL;
  }
  return t;
}

/* Creates the thread on its own (locked) stack with every signal blocked. Returns 0 or an errno. */
static int timer_start_thread(atimer_t *t) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  t->stack_map_size = TIMER_STACK_SIZE + page;
  t->stack = map_locked(&t->stack_map_size, false, NULL);
  if (!t->stack) return errno;
  /* The lowest page is the guard (stacks grow down); the rest is locked when asked. */
  if (mprotect(t->stack, page, PROT_NONE) < 0) {
    int err = errno;
    munmap(t->stack, t->stack_map_size);
    return err;
  }
  if (t->lock && mlock((char *)t->stack + page, t->stack_map_size - page) < 0 && !t->lock_errno) t->lock_errno = errno;
  pthread_attr_t ta;
  sigset_t all, old;
  int rc = pthread_attr_init(&ta);
  if (!rc) rc = pthread_attr_setstack(&ta, (char *)t->stack + page, t->stack_map_size - page);
  if (!rc) {
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread inherits "all blocked" */
    rc = pthread_create(&t->thread, &ta, timer_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  pthread_attr_destroy(&ta);
  if (rc) munmap(t->stack, t->stack_map_size);
  return rc;
}

/* timerOpen(socket, lock) -> timer handle: a stopped timer thread sending through (a dup of) the raw
 * socket; lock: keep its stack, state and packets in RAM (mlock). */
static napi_value js_timer_open(napi_env env, napi_callback_info info) {
  napi_value argv[2], handle;
  bool lock = false;
  if (!get_args(env, info, 2, argv)) return NULL;
  sock_t *s = get_ip_sock(env, argv[0]);
  if (!s) return NULL;
  if (!is_type(env, argv[1], napi_boolean) || napi_get_value_bool(env, argv[1], &lock) != napi_ok) {
    return throw_arg(env, "lock must be a boolean");
  }
  int lock_errno = 0;
  size_t size = sizeof(atimer_t);
  atimer_t *t = map_locked(&size, lock, &lock_errno);
  if (!t) return throw_errno(env, "mmap", errno);
  memset(t, 0, sizeof *t);
  t->map_size = size;
  t->lock = lock;
  t->lock_errno = lock_errno;
  t->family = s->family;
  t->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
  if (t->fd < 0) {
    int err = errno;
    munmap(t, t->map_size);
    return throw_errno(env, "dup", err);
  }
  pthread_mutexattr_t ma;
  pthread_condattr_t ca;
  int rc = pthread_mutexattr_init(&ma);
  if (!rc) rc = pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
  if (!rc) rc = pthread_mutex_init(&t->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  if (rc) {
    close(t->fd);
    munmap(t, t->map_size);
    return throw_errno(env, "pthread_mutex_init", rc);
  }
  rc = pthread_condattr_init(&ca);
  if (!rc) rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if (!rc) rc = pthread_cond_init(&t->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (!rc) {
    rc = timer_start_thread(t);
    if (rc) pthread_cond_destroy(&t->cv);
  }
  if (rc) {
    pthread_mutex_destroy(&t->mu);
    close(t->fd);
    munmap(t, t->map_size);
    return throw_errno(env, "advert timer thread", rc);
  }
  pthread_mutex_lock(&t->mu);
  while (!t->tid) pthread_cond_wait(&t->cv, &t->mu);
  pthread_mutex_unlock(&t->mu);
  if (napi_add_env_cleanup_hook(env, on_timer_env_cleanup, t) != napi_ok) {
    timer_shutdown(t);
    timer_destroy(t);
    napi_throw_error(env, "ENOMEM", "cannot set up the advert timer");
    return NULL;
  }
  if (napi_create_external(env, t, on_timer_finalized, NULL, &handle) != napi_ok) {
    napi_remove_env_cleanup_hook(env, on_timer_env_cleanup, t);
    timer_shutdown(t);
    timer_destroy(t);
    napi_throw_error(env, "ENOMEM", "cannot set up the advert timer");
    return NULL;
  }
  if (napi_type_tag_object(env, handle, &TIMER_TAG) != napi_ok) {
    timer_shutdown(t); /* the finalizer frees it */
    napi_throw_error(env, "ENOTSUP", "this Node.js cannot type-tag externals");
    return NULL;
  }
  return handle;
}

/* timerSet(timer, packets: Buffer[], destinations: string[], source?, ifindex?, intervalUs, firstInUs?, watchdogUs?)
 * Replaces what is sent and starts the timer (and feeds it). firstInUs given (or the timer stopped):
 * the next send is that long from now; omitted on a running timer: the phase is kept. watchdogUs:
 * withhold adverts while the timer has not been fed (timerSet / timerFeed) for that long. */
static napi_value js_timer_set(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  uint32_t n, nd;
  int ifindex = 0, interval_us, first_us = -1, watchdog_us = 0;
  bool a1 = false, a2 = false;
  void *datas[TIMER_MAX_PACKETS];
  size_t lens[TIMER_MAX_PACKETS];
  napi_value dests[TIMER_MAX_PACKETS];
  if (!get_args(env, info, 8, argv)) return NULL;
  atimer_t *t = get_timer(env, argv[0]);
  if (!t) return NULL;
  napi_is_array(env, argv[1], &a1);
  napi_is_array(env, argv[2], &a2);
  if (!a1 || !a2 || napi_get_array_length(env, argv[1], &n) != napi_ok ||
      napi_get_array_length(env, argv[2], &nd) != napi_ok || n != nd || n == 0 || n > TIMER_MAX_PACKETS) {
    return throw_arg(env, "packets and destinations must be arrays of the same length, 1..64");
  }
  if (!is_type(env, argv[4], napi_undefined) && !get_int(env, argv[4], 1, INT32_MAX, "ifindex", &ifindex)) return NULL;
  /* VRRPv3 allows 10 ms..40.95 s, v2 1..255 s; the floor guards against a busy thread. */
  if (!get_int(env, argv[5], 1000, 300000000, "intervalUs", &interval_us)) return NULL;
  if (!is_type(env, argv[6], napi_undefined) && !get_int(env, argv[6], 0, 300000000, "firstInUs", &first_us)) return NULL;
  if (!is_type(env, argv[7], napi_undefined) && !get_int(env, argv[7], 0, INT32_MAX, "watchdogUs", &watchdog_us)) {
    return NULL;
  }
  size_t total = sizeof(pktset_t);
  for (uint32_t i = 0; i < n; i++) {
    napi_value b;
    bool isbuf = false;
    bool ok = napi_get_element(env, argv[1], i, &b) == napi_ok && napi_get_element(env, argv[2], i, &dests[i]) == napi_ok;
    if (ok) napi_is_buffer(env, b, &isbuf);
    if (!ok || !isbuf || napi_get_buffer_info(env, b, &datas[i], &lens[i]) != napi_ok || lens[i] == 0 || lens[i] > 65000) {
      return throw_arg(env, "each packet must be a Buffer of 1..65000 bytes");
    }
    total += (sizeof(tpkt_t) + lens[i] + 15) & ~(size_t)15;
  }
  size_t map_size = total;
  pktset_t *set = map_locked(&map_size, t->lock, &t->lock_errno);
  if (!set) return throw_errno(env, "mmap", errno);
  set->map_size = map_size;
  set->n = n;
  uint8_t *cur = (uint8_t *)set + ((sizeof(pktset_t) + 15) & ~(size_t)15);
  for (uint32_t i = 0; i < n; i++) {
    tpkt_t *pk = (tpkt_t *)cur;
    set->p[i] = pk;
    pk->len = lens[i];
    memcpy(pk->data, datas[i], lens[i]);
    if (!build_dest(env, t->family, dests[i], argv[3], ifindex, &pk->dest)) {
      free_set(set);
      return NULL;
    }
    cur += (sizeof(tpkt_t) + lens[i] + 15) & ~(size_t)15;
  }
  pthread_mutex_lock(&t->mu);
  pktset_t *old = t->set;
  t->set = set;
  t->interval_ns = (int64_t)interval_us * 1000;
  t->watchdog_ns = (int64_t)watchdog_us * 1000;
  t->fed_ns = now_ns();
  if (first_us >= 0 || !t->armed) {
    t->next = ns_ts(now_ns() + (first_us >= 0 ? (int64_t)first_us * 1000 : t->interval_ns));
  }
  t->armed = true;
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  free_set(old);
  return NULL;
}

/* timerFeed(timer): the engine is alive (see the watchdog). */
static napi_value js_timer_feed(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  atimer_t *t = get_timer(env, argv[0]);
  if (!t) return NULL;
  int64_t now = now_ns();
  pthread_mutex_lock(&t->mu);
  t->fed_ns = now;
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

/* timerStop(timer): when it returns, no send is in progress and none will follow until the next timerSet. */
static napi_value js_timer_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  atimer_t *t = get_timer(env, argv[0]);
  if (!t) return NULL;
  pthread_mutex_lock(&t->mu);
  t->armed = false;
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

static bool set_num(napi_env env, napi_value obj, const char *name, double value) {
  napi_value v;
  return napi_create_double(env, value, &v) == napi_ok && napi_set_named_property(env, obj, name, v) == napi_ok;
}

static bool set_errno_name(napi_env env, napi_value obj, const char *name, int err) {
  napi_value v;
  napi_status st = err ? napi_create_string_utf8(env, uv_err_name(uv_translate_sys_error(err)), NAPI_AUTO_LENGTH, &v)
                       : napi_get_null(env, &v);
  return st == napi_ok && napi_set_named_property(env, obj, name, v) == napi_ok;
}

/* timerStats(timer) -> { threadId, armed, sent, sendErrors, lastError, skipped, withheld, maxLateUs, locked, lockError }. */
static napi_value js_timer_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], out, v;
  if (!get_args(env, info, 1, argv)) return NULL;
  atimer_t *t = get_timer(env, argv[0]);
  if (!t) return NULL;
  pthread_mutex_lock(&t->mu);
  bool armed = t->armed;
  double sent = (double)t->sent, errors = (double)t->send_errors, skipped = (double)t->skipped;
  double withheld = (double)t->withheld;
  double late_us = (double)t->max_late_ns / 1000.0;
  int last = t->last_errno, lock_err = t->lock_errno;
  pthread_mutex_unlock(&t->mu);
  CHECK(napi_create_object(env, &out));
  if (!set_num(env, out, "threadId", t->tid) || !set_num(env, out, "sent", sent) ||
      !set_num(env, out, "sendErrors", errors) || !set_num(env, out, "skipped", skipped) ||
      !set_num(env, out, "maxLateUs", late_us) || !set_num(env, out, "withheld", withheld) || !set_errno_name(env, out, "lastError", last) ||
      !set_errno_name(env, out, "lockError", lock_err)) {
    return NULL;
  }
  CHECK(napi_get_boolean(env, armed, &v));
  CHECK(napi_set_named_property(env, out, "armed", v));
  CHECK(napi_get_boolean(env, t->lock && !lock_err, &v));
  CHECK(napi_set_named_property(env, out, "locked", v));
  return out;
}

/* timerClose(timer): stops and joins the thread. Closing twice is allowed. */
static napi_value js_timer_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool ok = false;
  void *p = NULL;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!is_type(env, argv[0], napi_external) || napi_check_object_type_tag(env, argv[0], &TIMER_TAG, &ok) != napi_ok ||
      !ok || napi_get_value_external(env, argv[0], &p) != napi_ok) {
    return throw_arg(env, "not an advert timer handle");
  }
  timer_shutdown(p);
  return NULL;
}

static void free_env_data(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  free(data);
}

NAPI_MODULE_INIT() {
  env_data_t *ed = malloc(sizeof *ed);
  if (!ed || napi_set_instance_data(env, ed, free_env_data, NULL) != napi_ok) {
    free(ed);
    napi_throw_error(env, "ENOMEM", "halo_net: cannot allocate per-environment state");
    return NULL;
  }
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"open", js_open},
      {"startReceive", js_start_receive},
      {"send", js_send},
      {"setOption", js_set_option},
      {"setMulticastInterface", js_set_multicast_interface},
      {"membership", js_membership},
      {"refUnref", js_ref_unref},
      {"close", js_close},
      {"sendFrame", js_send_frame},
      {"drain", js_drain},
      {"pidfdOpen", js_pidfd_open},
      {"openNetlink", js_open_netlink},
      {"netlinkBind", js_netlink_bind},
      {"netlinkSend", js_netlink_send},
      {"netlinkMembership", js_netlink_membership},
      {"netlinkAddress", js_netlink_address},
      {"bufferSize", js_buffer_size},
      {"threadId", js_thread_id},
      {"peerCredentials", js_peer_credentials},
      {"setScheduler", js_set_scheduler},
      {"getScheduler", js_get_scheduler},
      {"nice", js_nice},
      {"affinity", js_affinity},
      {"lockCode", js_lock_code},
      {"rtTimeLimit", js_rt_time_limit},
      {"watchSigxcpu", js_watch_sigxcpu},
      {"sigxcpuCount", js_sigxcpu_count},
      {"timerOpen", js_timer_open},
      {"timerSet", js_timer_set},
      {"timerStop", js_timer_stop},
      {"timerFeed", js_timer_feed},
      {"timerStats", js_timer_stats},
      {"timerClose", js_timer_close},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) {
      return NULL;
    }
  }
  return exports;
}
