/*
 * faultfs: a passthrough FUSE filesystem that misbehaves on demand.
 *
 *     faultfs [--die-with-parent] [-o fuse-option,...] <backing-dir> <mount-point>
 *
 * Every file operation under <mount-point> is carried out on <backing-dir>
 * (through *at() calls on one directory descriptor, so the mount point may
 * even be the backing directory itself). Faults are set and read at run time,
 * without remounting, through a control file served by the mount itself:
 *
 *     echo 'fsync_delay_us=2000' > <mount-point>/.faultfs     # set (update)
 *     echo 'clear' > <mount-point>/.faultfs                   # all faults off
 *     cat <mount-point>/.faultfs                              # settings + counters
 *
 * A write to the control file is a list of `key=value` (or `clear`) words
 * separated by spaces or newlines; it is applied whole or not at all (EINVAL
 * on any bad word), and is in force when write(2) returns. Keys:
 *
 *     fsync_delay_us         fsync/fdatasync/fsyncdir: really sync the backing file, then sleep this long
 *     write_delay_us         sleep this long before each write
 *     fsync_eio_next         the next n file fsyncs fail with EIO (without syncing)
 *     fsync_eio_probability  each file fsync fails with EIO with this probability (0..1)
 *     write_eio_next         the next n writes fail with EIO (nothing written)
 *     write_eio_probability  each write fails with EIO with this probability (0..1)
 *     space_limit_bytes      a write that would grow the tree's apparent size (sum of
 *                            regular files' st_size) past this fails with ENOSPC; `off`
 *                            to lift it. Setting it walks the backing tree once.
 *     seed                   seed of the generator the probabilities draw from
 *
 * The control file is not listed by readdir and cannot be removed or
 * renamed; a real `.faultfs` at the backing root is shadowed by it.
 *
 * Multi-threaded: a delayed fsync holds one worker thread, so reads and
 * writes of other files go on. Every sleep is bounded by DELAY_US_MAX, the
 * tree walk by WALK_ENTRIES_MAX, a control write by CONTROL_BYTES_MAX.
 */
/* 3.12: the loop config with a thread bound (Debian bookworm ships 3.14). */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE

#include <fuse.h>
#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define CONTROL_NAME ".faultfs"
#define CONTROL_PATH "/" CONTROL_NAME
/* The file handle the control file is opened with; no real descriptor has it. */
#define CONTROL_FH UINT64_MAX
#define CONTROL_BYTES_MAX 4096
/* One minute: a longer sleep would only hang the caller and the unmount. */
#define DELAY_US_MAX 60000000LL
#define NEXT_MAX 1000000000LL
#define WALK_ENTRIES_MAX 1000000L
#define SLEEP_ROUNDS_MAX 1000
/* Workers: enough that delayed fsyncs do not starve other files' requests. */
#define THREADS_MAX 64

/* The faults of one kind of call (file fsyncs, writes). */
struct call_faults {
	long long delay_us;
	long long eio_next;
	double eio_probability;
};

struct faults {
	struct call_faults fsync;
	struct call_faults write;
	long long space_limit_bytes; /* -1: off */
	uint64_t seed;
};

struct call_counters {
	unsigned long long total;
	unsigned long long eio;
};

struct counters {
	struct call_counters fsync;
	struct call_counters write;
	unsigned long long enospc;
};

static int backing_fd = -1;
static char backing_path[PATH_MAX];

/* faults_lock guards faults, counters and rng. */
static pthread_mutex_t faults_lock = PTHREAD_MUTEX_INITIALIZER;
static struct faults faults = { .space_limit_bytes = -1, .seed = 1 };
static struct counters counters;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/*
 * space_lock guards space_used_bytes and is held around every size-changing
 * call while a limit is set, so the size before and after is exact.
 */
static pthread_mutex_t space_lock = PTHREAD_MUTEX_INITIALIZER;
static long long space_used_bytes;

/* "/a/b" -> "a/b", "/" -> ".": relative to backing_fd. */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static int is_control(const char *path)
{
	return path != NULL && strcmp(path, CONTROL_PATH) == 0;
}

static int fd_of(struct fuse_file_info *fi)
{
	return (int)fi->fh;
}

/* xorshift64*, under faults_lock. */
static double draw_unit(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (double)((rng * 0x2545f4914f6cdd1dULL) >> 11) / (double)(1ULL << 53);
}

/* Under faults_lock: whether this operation fails, consuming a "next n" first. */
static int draw_fault(long long *next, double probability)
{
	if (*next > 0) {
		(*next)--;
		return 1;
	}
	return probability > 0 && draw_unit() < probability;
}

/* What faultfs does to one call: sleep this long, fail with EIO or not. */
struct verdict {
	long long delay_us;
	int eio;
};

/* Counts a call of one kind and draws its fate from that kind's faults (both in the globals, under faults_lock). */
static struct verdict judge(struct call_faults *call, struct call_counters *count)
{
	pthread_mutex_lock(&faults_lock);
	count->total++;
	struct verdict verdict = { .delay_us = call->delay_us, .eio = draw_fault(&call->eio_next, call->eio_probability) };
	if (verdict.eio)
		count->eio++;
	pthread_mutex_unlock(&faults_lock);
	return verdict;
}

static void sleep_us(long long us)
{
	struct timespec left = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };
	for (int round = 0; round < SLEEP_ROUNDS_MAX; round++)
		if (nanosleep(&left, &left) == 0 || errno != EINTR)
			return;
}

static long long space_limit(void)
{
	pthread_mutex_lock(&faults_lock);
	long long limit = faults.space_limit_bytes;
	pthread_mutex_unlock(&faults_lock);
	return limit;
}

static void count_enospc(void)
{
	pthread_mutex_lock(&faults_lock);
	counters.enospc++;
	pthread_mutex_unlock(&faults_lock);
}

/* Caller's ownership for what root creates on its behalf. */
static void own(const char *relative)
{
	struct fuse_context *context = fuse_get_context();
	if (geteuid() == 0 && (context->uid != 0 || context->gid != 0))
		(void)fchownat(backing_fd, relative, context->uid, context->gid, AT_SYMLINK_NOFOLLOW);
}

/* ---- the control file ---- */

static int render_control(char *out, size_t size)
{
	pthread_mutex_lock(&faults_lock);
	struct faults f = faults;
	struct counters c = counters;
	pthread_mutex_unlock(&faults_lock);
	char limit[32] = "off";
	char used[32] = "unknown";
	if (f.space_limit_bytes >= 0) {
		snprintf(limit, sizeof limit, "%lld", f.space_limit_bytes);
		pthread_mutex_lock(&space_lock);
		snprintf(used, sizeof used, "%lld", space_used_bytes);
		pthread_mutex_unlock(&space_lock);
	}
	return snprintf(out, size,
		"fsync_delay_us=%lld\nwrite_delay_us=%lld\n"
		"fsync_eio_next=%lld\nfsync_eio_probability=%.6f\n"
		"write_eio_next=%lld\nwrite_eio_probability=%.6f\n"
		"space_limit_bytes=%s\nspace_used_bytes=%s\nseed=%llu\n"
		"fsyncs_total=%llu\nwrites_total=%llu\n"
		"fsync_eio_injected_total=%llu\nwrite_eio_injected_total=%llu\nenospc_injected_total=%llu\n",
		f.fsync.delay_us, f.write.delay_us, f.fsync.eio_next, f.fsync.eio_probability,
		f.write.eio_next, f.write.eio_probability, limit, used, (unsigned long long)f.seed,
		c.fsync.total, c.write.total, c.fsync.eio, c.write.eio, c.enospc);
}

static int parse_integer(const char *text, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long value = strtoll(text, &end, 10);
	if (errno || end == text || *end || value < 0 || value > max)
		return -1;
	*out = value;
	return 0;
}

static int parse_probability(const char *text, double *out)
{
	char *end;
	errno = 0;
	double value = strtod(text, &end);
	if (errno || end == text || *end || !(value >= 0.0 && value <= 1.0))
		return -1;
	*out = value;
	return 0;
}

/* One word into `f`; -1 when it is not one faultfs knows or its value is out of range. */
static int apply_word(char *word, struct faults *f, int *walk)
{
	if (strcmp(word, "clear") == 0) {
		uint64_t seed = f->seed;
		*f = (struct faults){ .space_limit_bytes = -1, .seed = seed };
		return 0;
	}
	char *value = strchr(word, '=');
	if (value == NULL)
		return -1;
	*value++ = '\0';
	long long seed;
	if (strcmp(word, "fsync_delay_us") == 0)
		return parse_integer(value, DELAY_US_MAX, &f->fsync.delay_us);
	if (strcmp(word, "write_delay_us") == 0)
		return parse_integer(value, DELAY_US_MAX, &f->write.delay_us);
	if (strcmp(word, "fsync_eio_next") == 0)
		return parse_integer(value, NEXT_MAX, &f->fsync.eio_next);
	if (strcmp(word, "write_eio_next") == 0)
		return parse_integer(value, NEXT_MAX, &f->write.eio_next);
	if (strcmp(word, "fsync_eio_probability") == 0)
		return parse_probability(value, &f->fsync.eio_probability);
	if (strcmp(word, "write_eio_probability") == 0)
		return parse_probability(value, &f->write.eio_probability);
	if (strcmp(word, "space_limit_bytes") == 0) {
		if (strcmp(value, "off") == 0) {
			f->space_limit_bytes = -1;
			return 0;
		}
		*walk = 1;
		return parse_integer(value, LLONG_MAX, &f->space_limit_bytes);
	}
	if (strcmp(word, "seed") == 0) {
		if (parse_integer(value, LLONG_MAX, &seed) != 0)
			return -1;
		f->seed = (uint64_t)seed;
		return 0;
	}
	return -1;
}

static long walk_entries;
static long long walk_bytes;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)type;
	if (++walk_entries > WALK_ENTRIES_MAX)
		return 1;
	if (S_ISREG(st->st_mode) && !(ftw->level == 1 && strcmp(path + ftw->base, CONTROL_NAME) == 0))
		walk_bytes += st->st_size;
	return 0;
}

/* The apparent size of the backing tree; under space_lock (nftw keeps its state in these globals). */
static int measure_tree(long long *bytes)
{
	walk_entries = 0;
	walk_bytes = 0;
	int result = nftw(backing_path, walk_one, 64, FTW_PHYS | FTW_MOUNT);
	if (result != 0)
		return result > 0 ? -EFBIG : -errno;
	*bytes = walk_bytes;
	return 0;
}

static int control_write(const char *buf, size_t size, off_t offset)
{
	if (offset != 0 || size >= CONTROL_BYTES_MAX)
		return -EINVAL;
	char text[CONTROL_BYTES_MAX];
	memcpy(text, buf, size);
	text[size] = '\0';
	pthread_mutex_lock(&faults_lock);
	struct faults next = faults;
	pthread_mutex_unlock(&faults_lock);
	int walk = 0;
	char *save = NULL;
	for (char *word = strtok_r(text, " \t\r\n", &save); word; word = strtok_r(NULL, " \t\r\n", &save))
		if (apply_word(word, &next, &walk) != 0)
			return -EINVAL;
	/* space_lock before faults_lock, as everywhere: a writer holding it sees the old limit or the new, never half. */
	pthread_mutex_lock(&space_lock);
	if (walk) {
		int result = measure_tree(&space_used_bytes);
		if (result != 0) {
			pthread_mutex_unlock(&space_lock);
			return result;
		}
	}
	pthread_mutex_lock(&faults_lock);
	if (next.seed != faults.seed)
		rng = next.seed ? next.seed : 0x9e3779b97f4a7c15ULL;
	faults = next;
	pthread_mutex_unlock(&faults_lock);
	pthread_mutex_unlock(&space_lock);
	return (int)size;
}

static int control_read(char *buf, size_t size, off_t offset)
{
	char text[CONTROL_BYTES_MAX];
	int length = render_control(text, sizeof text);
	/* snprintf returns the length it wanted: never read past what it wrote. */
	if (length >= (int)sizeof text)
		length = (int)sizeof text - 1;
	if (length < 0 || offset >= length)
		return 0;
	size_t count = (size_t)(length - offset) < size ? (size_t)(length - offset) : size;
	memcpy(buf, text + offset, count);
	return (int)count;
}

/* ---- namespace operations ---- */

static void *ffs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	cfg->nullpath_ok = 1;
	/* Unlinked open files go away at once (no .fuse_hidden files in the backing tree); fds carry on. */
	cfg->hard_remove = 1;
	cfg->direct_io = 0;
	return NULL;
}

static int ffs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if ((fi && fi->fh == CONTROL_FH) || is_control(path)) {
		memset(st, 0, sizeof *st);
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_uid = getuid();
		st->st_gid = getgid();
		return 0;
	}
	int result = fi ? fstat(fd_of(fi), st) : fstatat(backing_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
	return result == -1 ? -errno : 0;
}

static int ffs_access(const char *path, int mask)
{
	if (is_control(path))
		return 0;
	return faccessat(backing_fd, rel(path), mask, 0) == -1 ? -errno : 0;
}

static int ffs_readlink(const char *path, char *buf, size_t size)
{
	ssize_t length = readlinkat(backing_fd, rel(path), buf, size - 1);
	if (length == -1)
		return -errno;
	buf[length] = '\0';
	return 0;
}

static int ffs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	if (is_control(path))
		return -EEXIST;
	int result = S_ISFIFO(mode) ? mkfifoat(backing_fd, rel(path), mode) : mknodat(backing_fd, rel(path), mode, rdev);
	if (result == -1)
		return -errno;
	own(rel(path));
	return 0;
}

static int ffs_mkdir(const char *path, mode_t mode)
{
	if (is_control(path))
		return -EEXIST;
	if (mkdirat(backing_fd, rel(path), mode) == -1)
		return -errno;
	own(rel(path));
	return 0;
}

static int ffs_symlink(const char *target, const char *path)
{
	if (is_control(path))
		return -EEXIST;
	if (symlinkat(target, backing_fd, rel(path)) == -1)
		return -errno;
	own(rel(path));
	return 0;
}

/* Apparent bytes removing `relative` frees: a regular file's size when this is its last link. */
static long long bytes_freed_by_removing(const char *relative)
{
	struct stat st;
	if (fstatat(backing_fd, relative, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	return S_ISREG(st.st_mode) && st.st_nlink == 1 ? st.st_size : 0;
}

static int ffs_unlink(const char *path)
{
	if (is_control(path))
		return -EPERM;
	if (space_limit() < 0)
		return unlinkat(backing_fd, rel(path), 0) == -1 ? -errno : 0;
	pthread_mutex_lock(&space_lock);
	long long freed = bytes_freed_by_removing(rel(path));
	int result = unlinkat(backing_fd, rel(path), 0) == -1 ? -errno : 0;
	if (result == 0)
		space_used_bytes -= freed;
	pthread_mutex_unlock(&space_lock);
	return result;
}

static int ffs_rmdir(const char *path)
{
	return unlinkat(backing_fd, rel(path), AT_REMOVEDIR) == -1 ? -errno : 0;
}

static int ffs_rename(const char *from, const char *to, unsigned int flags)
{
	if (is_control(from) || is_control(to))
		return -EPERM;
	if (space_limit() < 0 || (flags & RENAME_EXCHANGE))
		return renameat2(backing_fd, rel(from), backing_fd, rel(to), flags) == -1 ? -errno : 0;
	pthread_mutex_lock(&space_lock);
	long long freed = bytes_freed_by_removing(rel(to));
	int result = renameat2(backing_fd, rel(from), backing_fd, rel(to), flags) == -1 ? -errno : 0;
	if (result == 0)
		space_used_bytes -= freed;
	pthread_mutex_unlock(&space_lock);
	return result;
}

static int ffs_link(const char *from, const char *to)
{
	if (is_control(from) || is_control(to))
		return -EPERM;
	return linkat(backing_fd, rel(from), backing_fd, rel(to), 0) == -1 ? -errno : 0;
}

static int ffs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if ((fi && fi->fh == CONTROL_FH) || is_control(path))
		return -EPERM;
	int result = fi ? fchmod(fd_of(fi), mode) : fchmodat(backing_fd, rel(path), mode, 0);
	return result == -1 ? -errno : 0;
}

static int ffs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	if ((fi && fi->fh == CONTROL_FH) || is_control(path))
		return -EPERM;
	int result = fi ? fchown(fd_of(fi), uid, gid) : fchownat(backing_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
	return result == -1 ? -errno : 0;
}

static int ffs_utimens(const char *path, const struct timespec times[2], struct fuse_file_info *fi)
{
	if ((fi && fi->fh == CONTROL_FH) || is_control(path))
		return 0;
	int result = fi ? futimens(fd_of(fi), times) : utimensat(backing_fd, rel(path), times, AT_SYMLINK_NOFOLLOW);
	return result == -1 ? -errno : 0;
}

/*
 * Runs `change` on `fd` (already open), accounting the size it adds or
 * removes while a space limit is set; refuses with ENOSPC, before
 * changing anything, when `growth(size before)` would pass the limit.
 */
struct size_change {
	int (*run)(int fd, const struct size_change *change);
	long long (*growth)(const struct size_change *change, long long size_before);
	const void *buf;
	size_t size;
	off_t offset;
	off_t length;
	int mode;
	ssize_t written;
};

static int change_size(int fd, struct size_change *change)
{
	if (space_limit() < 0)
		return change->run(fd, change);
	pthread_mutex_lock(&space_lock);
	struct stat before, after;
	int result = fstat(fd, &before) == -1 ? -errno : 0;
	long long limit = space_limit();
	if (result == 0 && limit >= 0 && change->growth && change->growth(change, before.st_size) > 0 &&
	    space_used_bytes + change->growth(change, before.st_size) > limit)
		result = -ENOSPC;
	if (result == 0) {
		result = change->run(fd, change);
		if (fstat(fd, &after) == 0)
			space_used_bytes += after.st_size - before.st_size;
	}
	pthread_mutex_unlock(&space_lock);
	if (result == -ENOSPC)
		count_enospc();
	return result;
}

static int run_truncate(int fd, const struct size_change *change)
{
	return ftruncate(fd, change->length) == -1 ? -errno : 0;
}

static int ffs_truncate(const char *path, off_t length, struct fuse_file_info *fi)
{
	if ((fi && fi->fh == CONTROL_FH) || is_control(path))
		return 0;
	/* A truncate may make a file sparse-larger; it is accounted but never refused (it uses no space). */
	struct size_change change = { .run = run_truncate, .length = length };
	if (fi)
		return change_size(fd_of(fi), &change);
	int fd = openat(backing_fd, rel(path), O_WRONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	int result = change_size(fd, &change);
	close(fd);
	return result;
}

/* ---- file operations ---- */

/* O_DIRECT is served as direct_io by the kernel side; the backing fd is opened without it (FUSE's buffers are not aligned). */
static int open_flags(struct fuse_file_info *fi)
{
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	return (fi->flags & ~O_DIRECT) | O_CLOEXEC;
}

static int ffs_open(const char *path, struct fuse_file_info *fi)
{
	if (is_control(path)) {
		fi->fh = CONTROL_FH;
		fi->direct_io = 1;
		return 0;
	}
	int fd = openat(backing_fd, rel(path), open_flags(fi));
	if (fd == -1)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int ffs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (is_control(path))
		return ffs_open(path, fi);
	int fd = openat(backing_fd, rel(path), open_flags(fi) | O_CREAT, mode);
	if (fd == -1)
		return -errno;
	own(rel(path));
	fi->fh = (uint64_t)fd;
	return 0;
}

static int ffs_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
	(void)path;
	if (fi->fh == CONTROL_FH)
		return control_read(buf, size, offset);
	ssize_t count = pread(fd_of(fi), buf, size, offset);
	return count == -1 ? -errno : (int)count;
}

static int run_write(int fd, const struct size_change *change)
{
	ssize_t count = pwrite(fd, change->buf, change->size, change->offset);
	if (count == -1)
		return -errno;
	((struct size_change *)change)->written = count;
	return 0;
}

static long long write_growth(const struct size_change *change, long long size_before)
{
	long long end = (long long)change->offset + (long long)change->size;
	return end > size_before ? end - size_before : 0;
}

static int ffs_write(const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
	(void)path;
	if (fi->fh == CONTROL_FH)
		return control_write(buf, size, offset);
	struct verdict verdict = judge(&faults.write, &counters.write);
	if (verdict.delay_us > 0)
		sleep_us(verdict.delay_us);
	if (verdict.eio)
		return -EIO;
	struct size_change change = { .run = run_write, .growth = write_growth, .buf = buf, .size = size, .offset = offset };
	int result = change_size(fd_of(fi), &change);
	return result < 0 ? result : (int)change.written;
}

static int run_fallocate(int fd, const struct size_change *change)
{
	return fallocate(fd, change->mode, change->offset, change->length) == -1 ? -errno : 0;
}

static long long fallocate_growth(const struct size_change *change, long long size_before)
{
	if (change->mode & FALLOC_FL_KEEP_SIZE)
		return 0;
	long long end = (long long)change->offset + (long long)change->length;
	return end > size_before ? end - size_before : 0;
}

static int ffs_fallocate(const char *path, int mode, off_t offset, off_t length, struct fuse_file_info *fi)
{
	(void)path;
	if (fi->fh == CONTROL_FH)
		return -EOPNOTSUPP;
	struct size_change change = { .run = run_fallocate, .growth = fallocate_growth, .offset = offset, .length = length, .mode = mode };
	return change_size(fd_of(fi), &change);
}

static int ffs_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	if (fstatvfs(backing_fd, st) == -1)
		return -errno;
	long long limit = space_limit();
	if (limit >= 0 && st->f_frsize > 0) {
		pthread_mutex_lock(&space_lock);
		long long used = space_used_bytes;
		pthread_mutex_unlock(&space_lock);
		long long free = limit > used ? limit - used : 0;
		st->f_blocks = (fsblkcnt_t)(limit / (long long)st->f_frsize);
		st->f_bfree = st->f_bavail = (fsblkcnt_t)(free / (long long)st->f_frsize);
	}
	return 0;
}

/* close(2) of one of the caller's descriptors: report the backing file's close errors (a dup keeps it open). */
static int ffs_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	if (fi->fh == CONTROL_FH)
		return 0;
	int copy = dup(fd_of(fi));
	if (copy == -1)
		return -errno;
	return close(copy) == -1 ? -errno : 0;
}

static int ffs_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	if (fi->fh != CONTROL_FH)
		close(fd_of(fi));
	return 0;
}

/* Really syncs, then sleeps: the caller sees a slow disk that did its job. An injected EIO syncs nothing. */
static int ffs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	if (fi->fh == CONTROL_FH)
		return 0;
	struct verdict verdict = judge(&faults.fsync, &counters.fsync);
	if (verdict.eio)
		return -EIO;
	int result = (datasync ? fdatasync(fd_of(fi)) : fsync(fd_of(fi))) == -1 ? -errno : 0;
	if (result == 0 && verdict.delay_us > 0)
		sleep_us(verdict.delay_us);
	return result;
}

/* Directories: a DIR* per open directory, in fi->fh. */
static DIR *dir_of(struct fuse_file_info *fi)
{
	return (DIR *)(uintptr_t)fi->fh;
}

static int ffs_opendir(const char *path, struct fuse_file_info *fi)
{
	int fd = openat(backing_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	DIR *dir = fdopendir(fd);
	if (dir == NULL) {
		int error = errno;
		close(fd);
		return -error;
	}
	fi->fh = (uint64_t)(uintptr_t)dir;
	return 0;
}

static int ffs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t offset, struct fuse_file_info *fi,
		       enum fuse_readdir_flags flags)
{
	(void)path;
	(void)offset;
	(void)flags;
	DIR *dir = dir_of(fi);
	struct stat self;
	struct stat root;
	int at_root = fstat(dirfd(dir), &self) == 0 && fstat(backing_fd, &root) == 0 && self.st_ino == root.st_ino && self.st_dev == root.st_dev;
	rewinddir(dir);
	/* Offsets of 0: libfuse collects the whole listing and pages it to the kernel itself. */
	for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
		if (at_root && strcmp(entry->d_name, CONTROL_NAME) == 0)
			continue;
		struct stat st = { .st_ino = entry->d_ino, .st_mode = (mode_t)DTTOIF(entry->d_type) };
		if (fill(buf, entry->d_name, &st, 0, 0))
			break;
	}
	return 0;
}

static int ffs_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	closedir(dir_of(fi));
	return 0;
}

/* A directory's fsync is slow too, but injected EIO is for files' fsyncs only (so "the next n" counts what the test wrote). */
static int ffs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	int fd = dirfd(dir_of(fi));
	int result = (datasync ? fdatasync(fd) : fsync(fd)) == -1 ? -errno : 0;
	pthread_mutex_lock(&faults_lock);
	long long delay = faults.fsync.delay_us;
	pthread_mutex_unlock(&faults_lock);
	if (result == 0 && delay > 0)
		sleep_us(delay);
	return result;
}

static const struct fuse_operations operations = {
	.init = ffs_init,
	.getattr = ffs_getattr,
	.access = ffs_access,
	.readlink = ffs_readlink,
	.mknod = ffs_mknod,
	.mkdir = ffs_mkdir,
	.symlink = ffs_symlink,
	.unlink = ffs_unlink,
	.rmdir = ffs_rmdir,
	.rename = ffs_rename,
	.link = ffs_link,
	.chmod = ffs_chmod,
	.chown = ffs_chown,
	.truncate = ffs_truncate,
	.utimens = ffs_utimens,
	.open = ffs_open,
	.create = ffs_create,
	.read = ffs_read,
	.write = ffs_write,
	.fallocate = ffs_fallocate,
	.statfs = ffs_statfs,
	.flush = ffs_flush,
	.release = ffs_release,
	.fsync = ffs_fsync,
	.opendir = ffs_opendir,
	.readdir = ffs_readdir,
	.releasedir = ffs_releasedir,
	.fsyncdir = ffs_fsyncdir,
};

/* ---- command line ---- */

/*
 * Mounts and serves until unmounted or signalled (SIGTERM/SIGINT/SIGHUP end
 * the loop, then it unmounts). Always in the foreground: whoever started
 * faultfs holds its pid.
 */
static int serve(struct fuse_args *args)
{
	struct fuse_cmdline_opts opts;
	if (fuse_parse_cmdline(args, &opts) != 0)
		return 1;
	if (opts.mountpoint == NULL) {
		fprintf(stderr, "faultfs: no mount point\n");
		return 1;
	}
	int status = 1;
	struct fuse *fuse = fuse_new(args, &operations, sizeof operations, NULL);
	if (fuse == NULL)
		goto out_free;
	if (fuse_mount(fuse, opts.mountpoint) != 0)
		goto out_destroy;
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto out_unmount;
	struct fuse_loop_config *config = fuse_loop_cfg_create();
	if (config == NULL)
		goto out_signals;
	fuse_loop_cfg_set_clone_fd(config, (unsigned int)opts.clone_fd);
	fuse_loop_cfg_set_max_threads(config, THREADS_MAX);
	status = (opts.singlethread ? fuse_loop(fuse) : fuse_loop_mt(fuse, config)) == 0 ? 0 : 1;
	fuse_loop_cfg_destroy(config);
out_signals:
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out_unmount:
	fuse_unmount(fuse);
out_destroy:
	fuse_destroy(fuse);
out_free:
	free(opts.mountpoint);
	return status;
}

struct options {
	const char *backing;
	int die_with_parent;
};

enum { KEY_DIE_WITH_PARENT };

static const struct fuse_opt option_spec[] = {
	FUSE_OPT_KEY("--die-with-parent", KEY_DIE_WITH_PARENT),
	FUSE_OPT_END,
};

/* The first non-option is the backing directory (ours); the second, the mount point, goes on to fuse_parse_cmdline. */
static int take_option(void *data, const char *arg, int key, struct fuse_args *args)
{
	(void)args;
	struct options *options = data;
	if (key == KEY_DIE_WITH_PARENT) {
		options->die_with_parent = 1;
		return 0;
	}
	if (key == FUSE_OPT_KEY_NONOPT && options->backing == NULL) {
		options->backing = arg;
		return 0;
	}
	return 1;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options options = { 0 };
	if (fuse_opt_parse(&args, &options, option_spec, take_option) == -1)
		return 1;
	if (options.backing == NULL) {
		fprintf(stderr, "usage: %s [--die-with-parent] [-o opt,...] <backing-dir> <mount-point>\n", argv[0]);
		return 1;
	}
	if (options.die_with_parent) {
		/* The parent dying (even by SIGKILL) ends this process through fuse's SIGTERM handler, which unmounts. */
		pid_t parent = getppid();
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
			return 1;
	}
	if (realpath(options.backing, backing_path) == NULL) {
		fprintf(stderr, "faultfs: %s: %s\n", options.backing, strerror(errno));
		return 1;
	}
	backing_fd = open(backing_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (backing_fd == -1) {
		fprintf(stderr, "faultfs: %s: %s\n", backing_path, strerror(errno));
		return 1;
	}
	umask(0);
	int status = serve(&args);
	fuse_opt_free_args(&args);
	close(backing_fd);
	return status;
}
