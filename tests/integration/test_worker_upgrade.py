"""Upgrading a deployment whose projectors were faust agents (one group named after the app id, until stop 48):
the projectors' own groups start where faust's left off, and faust's group goes (its lag would grow forever)."""

from __future__ import annotations

from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

from photostream.kafka_config import client_config
from photostream.settings import Settings
from producers.ids import new_id
from streams.consumer_groups import adopt_faust_projector_positions, end_offsets, seed_groups

PROJECTED = ("user-registered", "profile-updated", "post-created", "post-deleted")


def committed(admin: AdminClient, settings: Settings, group: str) -> dict[tuple[str, int], int]:
    found = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    return {(settings.topic_names.logical(tp.topic), tp.partition): tp.offset
            for tp in found.topic_partitions or [] if tp.offset >= 0}


def groups(admin: AdminClient) -> set[str]:
    return {g.group_id for g in admin.list_consumer_groups().result().valid}


def test_the_projectors_start_where_faust_left_off_and_faust_s_group_is_deleted(settings: Settings) -> None:
    own = settings.model_copy(update={"app_id": f"{settings.app_id}-upgrade-{new_id()[-8:]}"})
    admin = AdminClient(client_config(own))
    # faust's group, somewhere in the logs (its position: each partition's end less what it had not applied yet)
    ends = end_offsets(own, PROJECTED)
    legacy = {tp: max(0, end - 1) for tp, end in ends.items()}
    seed_groups(own, {own.app_id: PROJECTED}, legacy)
    # a deployment upgraded half-way: the posts projector's group already runs from a position of its own
    posts_own = {tp: 0 for tp in ends if tp[0].startswith("post-")}
    seed_groups(own, {f"{own.app_id}.posts": ("post-created", "post-deleted")}, posts_own)

    done = adopt_faust_projector_positions(own)

    assert committed(admin, own, f"{own.app_id}.profiles") == {
        tp: offset for tp, offset in legacy.items() if tp[0] in ("user-registered", "profile-updated")}
    assert committed(admin, own, f"{own.app_id}.posts") == posts_own  # an existing group is left as it is
    assert own.app_id not in groups(admin), done
    assert adopt_faust_projector_positions(own) == []  # nothing left to adopt: a no-op on every later start
