/* Intrusive lists the backends thread through their own structs (reads in flight, queued
 * requests, regions). The caller names the head/tail and link fields, so one struct can
 * sit on several lists at once (verbs: a read is both live and queued for issue). */
#ifndef PENNANT_TRANSPORT_LIST_H
#define PENNANT_TRANSPORT_LIST_H

#include <stddef.h>

/* Append node to the singly linked FIFO head..tail through its field next. */
#define PN_FIFO_APPEND(head, tail, node, next)                                                \
	do {                                                                                   \
		(node)->next = NULL;                                                           \
		if (tail)                                                                      \
			(tail)->next = (node);                                                 \
		else                                                                           \
			(head) = (node);                                                       \
		(tail) = (node);                                                               \
	} while (0)

/* Take node off the doubly linked list starting at head (fields prev/next). */
#define PN_LIST_UNLINK(head, node, prev, next)                                                \
	do {                                                                                   \
		if ((node)->prev)                                                              \
			(node)->prev->next = (node)->next;                                     \
		else                                                                           \
			(head) = (node)->next;                                                 \
		if ((node)->next)                                                              \
			(node)->next->prev = (node)->prev;                                     \
	} while (0)

/* The same for a list that also keeps its tail. */
#define PN_LIST_UNLINK_TAIL(head, tail, node, prev, next)                                     \
	do {                                                                                   \
		if (!(node)->next)                                                             \
			(tail) = (node)->prev;                                                 \
		PN_LIST_UNLINK(head, node, prev, next);                                        \
	} while (0)

#endif
