"""gRPC channelz behind SHUTTER_CHANNELZ: on, every server answers grpc.channelz.v1 (without a token,
like health and reflection, and listed by reflection); off (the default), it is not there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_channelz.v1 import channelz_pb2, channelz_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.mesh import Mesh

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def with_channelz(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    mesh = Mesh(Path(tmp_path_factory.mktemp("channelz")), services=("user",), extra_env={"SHUTTER_CHANNELZ": "1"})
    try:
        await mesh.start()
        yield mesh
    finally:
        await mesh.close()


async def _services(channel: grpc.aio.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in stub.ServerReflectionInfo(iter([request]), timeout=5):
        return {service.name for service in reply.list_services_response.service}
    return set()


async def test_channelz_answers_without_a_token_when_turned_on(with_channelz: Mesh) -> None:
    channel = with_channelz.channel("user")
    stub = channelz_pb2_grpc.ChannelzStub(channel)
    servers = await stub.GetServers(channelz_pb2.GetServersRequest(), timeout=5)
    assert servers.server, "the user service's server is listed"
    assert servers.server[0].data.calls_started >= 1  # at least the readiness checks and this call
    top = await stub.GetTopChannels(channelz_pb2.GetTopChannelsRequest(), timeout=5)
    assert top is not None
    assert "grpc.channelz.v1.Channelz" in await _services(channel)


async def test_channelz_is_absent_by_default(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as absent:
        await channelz_pb2_grpc.ChannelzStub(mesh.channel("user")).GetServers(
            channelz_pb2.GetServersRequest(), timeout=5
        )
    assert absent.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "grpc.channelz.v1.Channelz" not in await _services(mesh.channel("user"))
