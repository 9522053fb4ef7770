"""Image URLs in chat requests. An engine may fetch any URL it is given (blind SSRF from the user's
machine), so the engine only ever sees `data:` URLs: an http(s) URL is refused unless
MODEL_RUNNER_ALLOW_IMAGE_URLS is set, and then the runner fetches it itself, to a public address only
(unless its host is in MODEL_RUNNER_IMAGE_URL_PRIVATE_HOSTS), within a size and a time cap, with the
connection pinned to the address that was checked."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from modelrunner.core.chat import ChatRequest, image_parts, image_url_of
from modelrunner.core.errors import InvalidRequest
from modelrunner.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ImageUrlPolicy:
    is_allowed: bool = False
    private_hosts: tuple[str, ...] = ()
    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageUrlPolicy:
        return cls(is_allowed=settings.allow_image_urls, private_hosts=settings.image_url_private_hosts,
                   max_bytes=settings.image_url_max_bytes, timeout_s=settings.image_url_timeout_s)


def refuse_image_urls(chat: ChatRequest, policy: ImageUrlPolicy) -> None:
    """Raise before any work if the request carries an image URL this runner may not fetch."""
    for part in image_parts(chat):
        url = image_url_of(part)
        if url.startswith("data:"):
            continue
        scheme = url.partition(":")[0].lower()
        if scheme not in ("http", "https"):
            raise InvalidRequest(f"image URL scheme {scheme!r} is not supported: send the image as base64 data",
                                 param="messages")
        if not policy.is_allowed:
            raise InvalidRequest("this runner does not fetch image URLs: send the image as base64 data, or start "
                                 "the runner with MODEL_RUNNER_ALLOW_IMAGE_URLS=1 to let it fetch public URLs",
                                 param="messages")


class CarriesChat(Protocol):
    @property
    def chat(self) -> ChatRequest: ...


Carrier = TypeVar("Carrier", bound=CarriesChat)


async def with_image_urls_inlined(carrier: Carrier, policy: ImageUrlPolicy) -> Carrier:
    """`carrier` (a tooling request, a tool plan) with its chat's image URLs inlined; `carrier` itself
    when its chat has none, as nearly every request."""
    chat = await inline_image_urls(carrier.chat, policy)
    return carrier if chat is carrier.chat else dataclasses.replace(carrier, chat=chat)  # type: ignore[type-var]


async def inline_image_urls(chat: ChatRequest, policy: ImageUrlPolicy) -> ChatRequest:
    """`chat` with every http(s) image URL replaced by the fetched bytes as a `data:` URL."""
    refuse_image_urls(chat, policy)
    if all(image_url_of(part).startswith("data:") for part in image_parts(chat)):
        return chat
    messages = []
    for message in chat.messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [await _inlined(part, policy) for part in content]
            message = {**message, "content": content}
        messages.append(message)
    return dataclasses.replace(chat, messages=messages)


async def _inlined(part: Any, policy: ImageUrlPolicy) -> Any:
    if not (isinstance(part, dict) and part.get("type") == "image_url") or image_url_of(part).startswith("data:"):
        return part
    data, media_type = await fetch_image(image_url_of(part), policy)
    return {**part, "image_url": {"url": f"data:{media_type};base64,{base64.b64encode(data).decode()}"}}


def _is_public(address: Address) -> bool:
    return address.is_global and not address.is_multicast


async def _checked_address(url: httpx.URL, policy: ImageUrlPolicy) -> Address:
    host = url.host.lower()
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, url.port or (443 if url.scheme == "https" else 80),
                                                             type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InvalidRequest(f"could not fetch an image from its URL ({host} does not resolve: {exc})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    if host not in policy.private_hosts and not all(_is_public(a) for a in addresses):
        raise InvalidRequest(f"image URL host {host} resolves to a private, loopback or link-local address, which "
                             "this runner does not fetch; list the host in MODEL_RUNNER_IMAGE_URL_PRIVATE_HOSTS to "
                             "allow it", param="messages")
    return addresses[0]


async def fetch_image(raw_url: str, policy: ImageUrlPolicy) -> tuple[bytes, str]:
    """GET one image, connected to the address that passed the check (no second DNS answer to trust)."""
    try:
        url = httpx.URL(raw_url)
    except httpx.InvalidURL as exc:
        raise InvalidRequest(f"invalid image URL: {exc}", param="messages") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequest("an image URL must be http(s) with a host", param="messages")
    try:
        async with asyncio.timeout(policy.timeout_s):
            address = await _checked_address(url, policy)
            pinned = url.copy_with(host=str(address))
            headers = {"host": url.netloc.decode("ascii"), "accept": "image/*"}
            async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=policy.timeout_s) as client:
                async with client.stream("GET", pinned, headers=headers,
                                         extensions={"sni_hostname": url.host}) as response:
                    return await _read_image(response, policy)
    except TimeoutError:
        raise InvalidRequest(
            f"could not fetch an image from its URL (no answer within {policy.timeout_s:g}s)") from None
    except httpx.HTTPError as exc:
        raise InvalidRequest(f"could not fetch an image from its URL ({type(exc).__name__})") from None


async def _read_image(response: httpx.Response, policy: ImageUrlPolicy) -> tuple[bytes, str]:
    if response.status_code != 200:
        raise InvalidRequest(f"could not fetch an image from its URL (HTTP {response.status_code}; redirects are "
                             "not followed)")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise InvalidRequest(f"the image at its URL is larger than {policy.max_bytes} bytes "
                             "(MODEL_RUNNER_IMAGE_URL_MAX_BYTES)")
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) > policy.max_bytes:
            raise InvalidRequest(f"the image at its URL is larger than {policy.max_bytes} bytes "
                                 "(MODEL_RUNNER_IMAGE_URL_MAX_BYTES)")
    media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    return bytes(received), media_type if media_type.startswith("image/") else "application/octet-stream"
