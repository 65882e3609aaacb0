/* verbs backend: choosing and opening the device, its PD, the context's one CQ and the
 * optional completion channel.
 *
 * The device list comes from rdma_get_devices() so the PD and CQ live on the very
 * ibv_context that rdma_cm will attach connections to (cm_id->verbs). */
#include "transport/verbs/verbs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

const char *verbs_device_name(const struct verbs_ctx *c)
{
	return c->verbs ? ibv_get_device_name(c->verbs->device) : "?";
}

static int port_active(struct ibv_context *dev, uint8_t port)
{
	struct ibv_port_attr pa;
	return ibv_query_port(dev, port, &pa) == 0 && pa.state == IBV_PORT_ACTIVE;
}

/* The device that owns a local IP address: bind a throw-away cm_id to it. */
static struct ibv_context *device_of_ip(struct verbs_ctx *c, uint8_t *port, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(c->bind_ip, NULL, &hints, &ai);
	if (rc != 0) {
		pn_errf(err, errlen, "verbs: addr=%s is not a numeric IP address (%s)", c->bind_ip,
			gai_strerror(rc));
		return NULL;
	}
	struct rdma_cm_id *id = NULL;
	struct ibv_context *dev = NULL;
	if (rdma_create_id(c->ec, &id, NULL, RDMA_PS_TCP) != 0) {
		pn_errf(err, errlen, "verbs: rdma_create_id: %s", strerror(errno));
	} else if (rdma_bind_addr(id, ai->ai_addr) != 0) {
		pn_errf(err, errlen, "verbs: addr=%s: cannot bind (%s); is it an address of an RDMA netdev?",
			c->bind_ip, strerror(errno));
	} else if (!id->verbs) {
		pn_errf(err, errlen, "verbs: addr=%s does not belong to an RDMA device", c->bind_ip);
	} else {
		dev = id->verbs;
		*port = id->port_num;
	}
	if (id)
		rdma_destroy_id(id);
	freeaddrinfo(ai);
	return dev;
}

static struct ibv_context *choose_device(struct verbs_ctx *c, char *err, size_t errlen)
{
	int n = 0;
	c->devlist = rdma_get_devices(&n);
	if (!c->devlist || n == 0) {
		pn_errf(err, errlen, "verbs: no RDMA device found (is rdma_rxe/a NIC driver loaded? "
			"see tests/softroce/README.md)");
		return NULL;
	}
	if (c->bind_ip[0]) {
		uint8_t port = c->port_num;
		struct ibv_context *dev = device_of_ip(c, &port, err, errlen);
		if (!dev)
			return NULL;
		if (c->dev_name[0] && strcmp(ibv_get_device_name(dev->device), c->dev_name) != 0) {
			pn_errf(err, errlen, "verbs: addr=%s belongs to %s, not dev=%s", c->bind_ip,
				ibv_get_device_name(dev->device), c->dev_name);
			return NULL;
		}
		c->port_num = port;
		return dev;
	}
	char names[256] = "";
	for (int i = 0; i < n; i++) {
		const char *name = ibv_get_device_name(c->devlist[i]->device);
		if (c->dev_name[0] ? strcmp(name, c->dev_name) == 0 : port_active(c->devlist[i], c->port_num))
			return c->devlist[i];
		size_t used = strlen(names);
		snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "", name);
	}
	if (c->dev_name[0])
		pn_errf(err, errlen, "verbs: no RDMA device named '%s' (have: %s)", c->dev_name, names);
	else
		pn_errf(err, errlen, "verbs: no RDMA device with port %u active (have: %s)", c->port_num, names);
	return NULL;
}

int verbs_device_open(struct verbs_ctx *c, char *err, size_t errlen)
{
	c->ec = rdma_create_event_channel();
	if (!c->ec)
		return pn_fail(err, errlen, ENODEV, "verbs: rdma_create_event_channel: %s (is rdma_ucm loaded?)",
			       strerror(errno));
	/* Never block in rdma_get_cm_event: the event pump polls the fd with a timeout. */
	int fl = fcntl(c->ec->fd, F_GETFL);
	if (fl < 0 || fcntl(c->ec->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		pn_errf(err, errlen, "verbs: cannot make the rdma_cm channel non-blocking: %s", strerror(errno));
		return -errno;
	}
	c->verbs = choose_device(c, err, errlen);
	if (!c->verbs)
		return -ENODEV;
	if (ibv_query_device(c->verbs, &c->dev_attr) != 0)
		return pn_fail(err, errlen, EIO, "verbs: ibv_query_device(%s): %s", verbs_device_name(c), strerror(errno));
	if (ibv_query_port(c->verbs, c->port_num, &c->port_attr) != 0)
		return pn_fail(err, errlen, ENODEV, "verbs: %s has no port %u", verbs_device_name(c), c->port_num);
	if (c->port_attr.state != IBV_PORT_ACTIVE)
		return pn_fail(err, errlen, ENETDOWN, "verbs: %s port %u is %s, not ACTIVE", verbs_device_name(c), c->port_num,
			       ibv_port_state_str(c->port_attr.state));
	if (c->gid_index >= 0) {
		union ibv_gid gid;
		if (c->gid_index >= c->port_attr.gid_tbl_len ||
		    ibv_query_gid(c->verbs, c->port_num, c->gid_index, &gid) != 0) {
			return pn_fail(err, errlen, EINVAL, "verbs: %s port %u has no GID index %d (table of %d)",
				       verbs_device_name(c), c->port_num, c->gid_index, c->port_attr.gid_tbl_len);
		}
	}
	c->max_msg = c->port_attr.max_msg_sz ? c->port_attr.max_msg_sz : (1u << 30);
	if (c->max_msg_opt && c->max_msg_opt < c->max_msg)
		c->max_msg = c->max_msg_opt;
	if (c->chunk > c->max_msg)
		c->chunk = c->max_msg;

	c->pd = ibv_alloc_pd(c->verbs);
	if (!c->pd)
		return pn_fail(err, errlen, ENOMEM, "verbs: ibv_alloc_pd(%s): %s", verbs_device_name(c), strerror(errno));
	if (!c->busy_only) {
		c->channel = ibv_create_comp_channel(c->verbs);
		if (!c->channel)
			return pn_fail(err, errlen, ENOMEM, "verbs: ibv_create_comp_channel: %s", strerror(errno));
		fl = fcntl(c->channel->fd, F_GETFL);
		if (fl < 0 || fcntl(c->channel->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			pn_errf(err, errlen, "verbs: completion channel: %s", strerror(errno));
			return -errno;
		}
	}
	uint32_t want = c->cq_depth ? c->cq_depth : 65536u;
	if (c->dev_attr.max_cqe > 0 && want > (uint32_t)c->dev_attr.max_cqe)
		want = (uint32_t)c->dev_attr.max_cqe;
	c->cq = ibv_create_cq(c->verbs, (int)want, NULL, c->channel, 0);
	if (!c->cq)
		return pn_fail(err, errlen, ENOMEM, "verbs: ibv_create_cq(%u entries): %s", want, strerror(errno));
	c->cq_depth = (uint32_t)c->cq->cqe;
	return 0;
}

/* Release one device object once and forget it (close runs after a partial open too). */
#define RELEASE(obj, destroy)                                                                 \
	do {                                                                                   \
		if (obj)                                                                       \
			destroy(obj);                                                          \
		(obj) = NULL;                                                                  \
	} while (0)

void verbs_device_close(struct verbs_ctx *c)
{
	/* Every CQ event must be acknowledged before the CQ can go; events are acked as they
	 * are read (verbs_poll.c), so nothing is outstanding here. */
	RELEASE(c->cq, ibv_destroy_cq);
	RELEASE(c->channel, ibv_destroy_comp_channel);
	RELEASE(c->pd, ibv_dealloc_pd);
	RELEASE(c->ec, rdma_destroy_event_channel);
	RELEASE(c->devlist, rdma_free_devices);
	c->verbs = NULL;
}
