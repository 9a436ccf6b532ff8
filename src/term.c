/*
 * term.c: the terminal (/dev/tty, whatever stdin and stdout are) for a
 * full-screen view: its size and raw mode asked of the kernel, not of an
 * stty process per frame. A tty keeps the mode it found and puts it back
 * through restore() however it ends (close, __gc, __close).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kadoa.h"

#define KD_TTY_MT "kadoa.tty"

typedef struct kd_tty {
  int fd;                  /* -1 once closed */
  int changed;             /* `kept` is owed back */
  struct termios kept;     /* the mode found */
} kd_tty;

static int open_tty(int flags) {
  int fd;
  do fd = open("/dev/tty", flags | O_NOCTTY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  return fd;
}

static int fail(lua_State *L, const char *what, int e) {
  lua_pushnil(L);
  if (e) lua_pushfstring(L, "%s: %s", what, strerror(e));
  else lua_pushstring(L, what);
  return 2;
}

int kd_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  luaL_argcheck(L, fd >= 0 && fd <= 1024, 1, "a file descriptor (0 to 1024)");
  lua_pushboolean(L, isatty((int)fd));
  return 1;
}

int kd_term_size(lua_State *L) {
  struct winsize ws;
  int fd = open_tty(O_RDONLY), r, e;
  if (fd < 0) return fail(L, "no terminal (/dev/tty)", errno);
  r = ioctl(fd, TIOCGWINSZ, &ws);
  e = errno;
  close(fd);
  if (r != 0) return fail(L, "the terminal's size", e);
  if (ws.ws_row == 0 || ws.ws_col == 0) return fail(L, "the terminal does not say its size", 0);
  lua_pushinteger(L, ws.ws_row);
  lua_pushinteger(L, ws.ws_col);
  return 2;
}

static int set_mode(kd_tty *t, const struct termios *m) {
  int r;
  do r = tcsetattr(t->fd, TCSADRAIN, m);
  while (r != 0 && errno == EINTR);
  return r;
}

static void restore(kd_tty *t) {
  if (t->changed && t->fd >= 0) set_mode(t, &t->kept);
  t->changed = 0;
}

static kd_tty *check_tty(lua_State *L) {
  kd_tty *t = (kd_tty *)luaL_checkudata(L, 1, KD_TTY_MT);
  if (t->fd < 0) luaL_argerror(L, 1, "the terminal is closed");
  return t;
}

int kd_terminal(lua_State *L) {
  kd_tty *t = (kd_tty *)lua_newuserdata(L, sizeof *t);
  memset(t, 0, sizeof *t);
  t->fd = -1;
  luaL_getmetatable(L, KD_TTY_MT);
  lua_setmetatable(L, -2);
  if ((t->fd = open_tty(O_RDWR)) < 0) return fail(L, "no terminal (/dev/tty)", errno);
  if (tcgetattr(t->fd, &t->kept) != 0) return fail(L, "cannot read the terminal's mode", errno);
  return 1;   /* a failure's fd is closed by __gc */
}

static int tty_raw(lua_State *L) {
  kd_tty *t = check_tty(L);
  struct termios m = t->kept;
  m.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  m.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  m.c_cflag = (m.c_cflag & ~(tcflag_t)(CSIZE | PARENB)) | CS8;
  /* output processing stays (a stray line still starts at the left); a
   * read never blocks: tty:read waits in poll */
  m.c_cc[VMIN] = 0;
  m.c_cc[VTIME] = 0;
  t->changed = 1;   /* first: a change half made is undone too */
  if (set_mode(t, &m) != 0) {
    int e = errno;
    restore(t);
    return fail(L, "cannot put the terminal in raw mode", e);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int tty_read(lua_State *L) {
  kd_tty *t = check_tty(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  double wait = luaL_optnumber(L, 3, 0);
  char buf[256];
  struct pollfd p;
  ssize_t got = 0;
  int r;
  luaL_argcheck(L, n >= 1 && n <= (lua_Integer)sizeof buf, 2, "1 to 256 bytes");
  p.fd = t->fd;
  p.events = POLLIN;
  /* a signal ends the wait as if nothing came: Lua's own SIGINT handler
   * (a kill from elsewhere) raises as soon as this returns */
  r = poll(&p, 1, !(wait > 0) ? 0 : wait > 86400 ? 86400000 : (int)(wait * 1000 + 0.5));
  if (r < 0 && errno != EINTR) return fail(L, "cannot wait for the terminal", errno);
  if (r > 0) {
    got = read(t->fd, buf, (size_t)n);
    if (got < 0 && errno != EINTR && errno != EAGAIN) return fail(L, "cannot read the terminal", errno);
    if (got == 0 && (p.revents & (POLLHUP | POLLERR))) return fail(L, "the terminal is gone", 0);
  }
  lua_pushlstring(L, buf, got > 0 ? (size_t)got : 0);
  return 1;
}

static int tty_close(lua_State *L) {
  kd_tty *t = (kd_tty *)luaL_checkudata(L, 1, KD_TTY_MT);
  restore(t);
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
  return 0;
}

static int tty_tostring(lua_State *L) {
  kd_tty *t = (kd_tty *)luaL_checkudata(L, 1, KD_TTY_MT);
  lua_pushfstring(L, "kadoa.tty (%s)", t->fd < 0 ? "closed" : t->changed ? "raw" : "open");
  return 1;
}

void kd_open_term(lua_State *L) {
  static const luaL_Reg tty_methods[] = {
    {"raw", tty_raw}, {"read", tty_read}, {"close", tty_close}, {NULL, NULL}
  };
  kd_new_class(L, KD_TTY_MT, tty_close, tty_tostring, tty_methods);
}
