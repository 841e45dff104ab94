/* The bare libbpf consumer the pipeline suite measures the agent against: loads
 * pipeline_bare.bpf.o, sizes its ring buffer and wakeup threshold as the agent does (a quarter
 * of the buffer unread), attaches it to one cgroup, and polls with the agent's timeout, only
 * counting records. Prints "ready" once attached; on SIGTERM or SIGINT drains what is left,
 * prints {"consumed": N, "bytes": N, "lost": N} (lost: reservations that failed, from the
 * object's stats map) and exits (detaching: nothing is pinned).
 *
 *   pipeline_bare OBJECT CGROUP_DIR ALLOWED_IPV4 [RINGBUF_BYTES [POLL_MS [CPU]]] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static unsigned long long consumed, bytes;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int count(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	consumed++;
	bytes += size;
	return 0;
}

/* Writes one const volatile global before load, found by name in the .rodata datasec (no
 * skeleton: the tool builds whatever order the harness compiles things in). */
static int set_rodata(struct bpf_object *obj, const char *name, const void *value, size_t size)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map = NULL, *m;
	bpf_object__for_each_map(m, obj)
	{
		const char *n = bpf_map__name(m);
		size_t len = strlen(n);
		if (len >= 7 && strcmp(n + len - 7, ".rodata") == 0)
			map = m;
	}
	if (!btf || !map)
		return -ENOENT;
	int sec = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (sec < 0)
		return sec;
	const struct btf_type *t = btf__type_by_id(btf, sec);
	const struct btf_var_secinfo *vs = btf_var_secinfos(t);
	size_t data_size;
	char *data = bpf_map__initial_value(map, &data_size);
	for (unsigned i = 0; i < btf_vlen(t); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);
		if (strcmp(btf__name_by_offset(btf, var->name_off), name) != 0)
			continue;
		if (!data || vs->size != size || vs->offset + size > data_size)
			return -EINVAL;
		memcpy(data + vs->offset, value, size);
		return 0;
	}
	return -ENOENT;
}

static unsigned long long lost_reservations(struct bpf_object *obj)
{
	struct bpf_map *stats = bpf_object__find_map_by_name(obj, "stats");
	int ncpu = libbpf_num_possible_cpus();
	if (!stats || ncpu <= 0)
		return 0;
	unsigned long long values[ncpu], sum = 0;
	unsigned key = 1; /* GR_STAT_EVENTS_LOST */
	if (bpf_map_lookup_elem(bpf_map__fd(stats), &key, values) != 0)
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += values[i];
	return sum;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr,
			"usage: %s OBJECT CGROUP_DIR ALLOWED_IPV4 [RINGBUF_BYTES [POLL_MS "
			"[CPU]]]\n",
			argv[0]);
		return 2;
	}
	unsigned ringbuf_bytes = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 0) : 1u << 20;
	int poll_ms = argc > 5 ? atoi(argv[5]) : 20;
	if (argc > 6) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(atoi(argv[6]), &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			perror("sched_setaffinity");
	}
	struct in_addr allowed;
	if (inet_pton(AF_INET, argv[3], &allowed) != 1) {
		fprintf(stderr, "bad address %s\n", argv[3]);
		return 2;
	}

	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct bpf_map *events = bpf_object__find_map_by_name(obj, "events");
	unsigned long long wakeup = ringbuf_bytes / 4; /* as the agent's loader sets it */
	__u32 ip = allowed.s_addr;
	int err = -ENOENT;
	if (!events || (err = bpf_map__set_max_entries(events, ringbuf_bytes)) ||
	    (err = set_rodata(obj, "wakeup_bytes", &wakeup, sizeof(wakeup))) ||
	    (err = set_rodata(obj, "allowed_ip4", &ip, sizeof(ip))) ||
	    (err = bpf_object__load(obj))) {
		fprintf(stderr, "prepare and load %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	int cg = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		perror(argv[2]);
		return 1;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "bare_connect4");
	struct bpf_link *link = prog ? bpf_program__attach_cgroup(prog, cg) : NULL;
	if (!link) {
		fprintf(stderr, "attach to %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(events), count, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		int n = ring_buffer__poll(rb, poll_ms);
		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "ring_buffer__poll: %s\n", strerror(-n));
			break;
		}
	}
	bpf_link__destroy(link); /* no more records: then what is left is drained */
	ring_buffer__consume(rb);
	printf("{\"consumed\": %llu, \"bytes\": %llu, \"lost\": %llu}\n", consumed, bytes,
	       lost_reservations(obj));
	ring_buffer__free(rb);
	bpf_object__close(obj);
	close(cg);
	return 0;
}
