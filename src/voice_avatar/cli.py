"""`voice-avatar`: a thin command line over the same services the API uses.

Exit codes: 0 success, 1 a check failed (doctor), 2 unusable input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from voice_avatar import __version__
from voice_avatar.errors import InputError, VoiceAvatarError
from voice_avatar.settings import Settings, get_settings
from voice_avatar.store import AvatarRecord, AvatarStore

EXIT_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        settings = get_settings()
        return int(args.handler(args, settings) or 0)
    except InputError as exc:
        print(f"voice-avatar: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except VoiceAvatarError as exc:
        print(f"voice-avatar: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("voice-avatar: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `voice-avatar config | head`: the reader left, which is not an error
        sys.stderr.close()
        return 0
    except UnicodeError as exc:  # non-UTF-8 bytes in an argument (a name, an id) or on standard input
        print(f"voice-avatar: error: the input is not valid UTF-8 text ({exc})", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:  # a path the system refuses: too long, not permitted, a folder where a file goes...
        if exc.filename is None:
            print(f"voice-avatar: failed: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"voice-avatar: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT


class _Parser(argparse.ArgumentParser):
    """A usage error is unusable input like any other: one line on stderr, exit 2 (not argparse's usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="voice-avatar", description="Personal voice avatars, offline.")
    parser.add_argument("--version", action="version", version=f"voice-avatar {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    enroll = sub.add_parser("enroll", help="make an avatar from recordings of one person")
    enroll.add_argument("--name", required=True, help="the avatar's name")
    enroll.add_argument("--json", action="store_true", help="print the avatar record as JSON")
    enroll.add_argument("--tier", default="free", help="the tier whose sample requirements apply (default free)")
    enroll.add_argument("--consent", metavar="FILE", help="a recording of the person reading the consent phrase")
    enroll.add_argument("--phrase", metavar="TEXT", help="the consent phrase that recording says")
    enroll.add_argument("files", nargs="+", metavar="FILE", help="audio samples (WAV, FLAC, OGG, MP3, WebM...)")
    enroll.set_defaults(handler=_enroll)

    check = sub.add_parser("check-sample", help="is a recording fit for cloning? (exit 0 yes, 1 no)")
    check.add_argument("--json", action="store_true", help="print the checks as JSON")
    check.add_argument("--tier", default="free", help="the tier whose minimum speech length applies")
    check.add_argument("--prompt", help="the text the recording should say (checked by speech recognition)")
    check.add_argument("files", nargs="+", metavar="FILE", help="the recording(s) of one enrollment")
    check.set_defaults(handler=_check_sample)

    phrase = sub.add_parser("consent-phrase", help="a fresh consent phrase (with a random code) to read aloud")
    phrase.add_argument("--json", action="store_true", help="print the phrase and its code as JSON")
    phrase.set_defaults(handler=_consent_phrase)

    say = sub.add_parser("say", help="read a text aloud in an avatar's voice")
    say.add_argument("--avatar", required=True, help="avatar name or id")
    say.add_argument("--out", required=True, help="output file")
    say.add_argument("--format", choices=["wav", "mp3", "ogg", "flac"], help="default: from --out's extension, else wav")
    say.add_argument("text", help="the text, or - to read it from standard input")
    say.set_defaults(handler=_say)

    detect = sub.add_parser("detect", help="does a file carry our watermark? (exit 0 yes, 1 no, 2 unreadable)")
    detect.add_argument("--json", action="store_true", help="print the result as JSON")
    detect.add_argument("file", metavar="FILE", help="audio file (WAV, FLAC, OGG, MP3...)")
    detect.set_defaults(handler=_detect)

    avatars = sub.add_parser("avatars", help="list, show or delete avatars")
    avatars_sub = avatars.add_subparsers(metavar="ACTION", required=True)
    avatars_sub.add_parser("list", help="all avatars").set_defaults(handler=_avatars_list)
    show = avatars_sub.add_parser("show", help="one avatar's record and scores")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print the whole record as JSON")
    show.set_defaults(handler=_avatars_show)
    delete = avatars_sub.add_parser(
        "delete",
        help="delete an avatar with its samples, profile, cached audio and provider voices "
        "(exit 1 when a provider voice could not be deleted)",
    )
    delete.add_argument("name")
    delete.add_argument("--json", action="store_true", help="print what was removed as JSON (as the API answers)")
    delete.set_defaults(handler=_avatars_delete)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes on this port (default 1); more than one needs VOICE_AVATAR_REDIS_URL",
    )
    serve.set_defaults(handler=_serve)
    sub.add_parser("worker", help="run queued jobs from Redis (needs VOICE_AVATAR_REDIS_URL)").set_defaults(
        handler=_worker
    )

    users = sub.add_parser("users", help="create and list API users")
    users_sub = users.add_subparsers(metavar="ACTION", required=True)
    create = users_sub.add_parser("create", help="a new user and their API key (shown once)")
    create.add_argument("--name", required=True)
    create.add_argument("--tier", default="free", help="free, starter or premium")
    create.add_argument("--admin", action="store_true", help="may create users and read reports")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=_users_create)
    users_sub.add_parser("list", help="all users").set_defaults(handler=_users_list)
    tier = users_sub.add_parser("set-tier", help="move a user to another tier")
    tier.add_argument("user_id")
    tier.add_argument("tier")
    tier.set_defaults(handler=_users_set_tier)
    user_delete = users_sub.add_parser(
        "delete", help="delete a user, their keys and avatars; their usage ledger is kept anonymised"
    )
    user_delete.add_argument("user_id")
    user_delete.add_argument("--json", action="store_true", help="print what was removed as JSON")
    user_delete.set_defaults(handler=_users_delete)

    keys = sub.add_parser("keys", help="issue, list and revoke a user's API keys")
    keys_sub = keys.add_subparsers(metavar="ACTION", required=True)
    key_create = keys_sub.add_parser("create", help="another API key for a user (shown once)")
    key_create.add_argument("user_id")
    key_create.add_argument("--json", action="store_true")
    key_create.set_defaults(handler=_keys_create)
    key_list = keys_sub.add_parser("list", help="a user's keys: id, prefix, created, revoked")
    key_list.add_argument("user_id")
    key_list.add_argument("--json", action="store_true")
    key_list.set_defaults(handler=_keys_list)
    key_revoke = keys_sub.add_parser("revoke", help="revoke a key by its id; it stops working at once")
    key_revoke.add_argument("key_id")
    key_revoke.set_defaults(handler=_keys_revoke)

    sub.add_parser("config", help="print the effective settings").set_defaults(handler=_config)
    sub.add_parser("doctor", help="load every bundled model and speak one sentence").set_defaults(handler=_doctor)
    return parser


def _store(settings: Settings) -> AvatarStore:
    from voice_avatar.store import open_store

    return open_store(settings)


def _enroll(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.enrollment import EnrollOptions, Upload, enroll

    if (args.consent is None) != (args.phrase is None):
        raise InputError("--consent FILE and --phrase TEXT go together: the recording and the phrase it says")
    options = EnrollOptions(
        sample_thresholds=_sample_thresholds(settings, args.tier),
        gate=settings.gate_thresholds("local"),
        require_consent=settings.consent_required("cli"),
    )
    samples = [Upload.from_path(path) for path in args.files]
    consent = Upload.from_path(args.consent) if args.consent else None
    with _ProgressBar() as progress:
        record = enroll(_store(settings), args.name, samples, progress, options, consent, args.phrase)
    detail = {"name": record.name, "samples": len(samples), "consent": consent is not None}
    _audit(settings, "avatar.enroll", "avatar", record.id, **detail)
    if args.json:
        print(json.dumps(record.to_json(), indent=2))
    else:
        print(f"avatar {record.name!r} is {record.status} (id {record.id}, {record.sample_seconds:.1f} s of audio)")
        _print_scores(record)
    return 0 if record.status == "ready" else 1


def _sample_thresholds(settings: Settings, tier: str):
    from voice_avatar.quality.sample_checks import Thresholds

    if tier not in settings.tier_min_speech_seconds:
        raise InputError(f"unknown tier {tier!r}; choose one of {', '.join(settings.tier_min_speech_seconds)}")
    return Thresholds(min_speech_seconds=settings.tier_min_speech_seconds[tier])


def _print_scores(record: AvatarRecord) -> None:
    labels = {"similarity": "similarity to your sample", "stock_similarity": "stock voice's similarity",
              "dnsmos": "naturalness (DNSMOS)", "wer": "word error rate"}
    for key, value in record.scores.items():
        print(f"  {labels.get(key, key):28s} {value}")
    for line in record.advice:
        print(f"  advice: {line}")


def _consent_phrase(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.quality.consent import new_challenge

    challenge = new_challenge()
    print(json.dumps({"phrase": challenge.text, "code": challenge.code}) if args.json else challenge.text)
    return 0


def _check_sample(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.audio import load_audio
    from voice_avatar.quality.sample_checks import check_sample

    thresholds = _sample_thresholds(settings, args.tier)
    recordings = [load_audio(path) for path in args.files]
    report = check_sample(recordings, thresholds, prompt=args.prompt)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for c in report.checks:
            print(f"{'pass' if c.passed else 'FAIL'}  {c.name:16s} {c.value:>10} (needs {c.threshold})")
        for line in report.advice:
            print(f"advice: {line}")
        print("fit for cloning" if report.ok else "not fit for cloning: " + ", ".join(report.failed()))
    return 0 if report.ok else 1


def _say(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.audio.encode import format_for_path
    from voice_avatar.speech import say

    text = sys.stdin.read() if args.text == "-" else args.text
    fmt = args.format or format_for_path(args.out) or "wav"
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"{args.out}: is a folder; give a file name")
    if not out.parent.exists():
        raise InputError(f"{args.out}: the folder {out.parent} does not exist")
    data = say(_store(settings), args.avatar, text, fmt)
    out.write_bytes(data)
    print(f"wrote {out} ({fmt}, {len(data)} bytes)", file=sys.stderr)
    return 0


def _detect(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar import watermark
    from voice_avatar.audio import load_audio

    audio = load_audio(args.file)
    avatars = {r.id: r.name for r in _store(settings).list()}  # local avatars the mark may name
    found = watermark.detect(audio, avatar_ids=list(avatars))
    if args.json:
        keys = ("found", "confidence", "score", "service", "avatar_id", "speed")
        result = {k: getattr(found, k) for k in keys} | {"avatar_name": avatars.get(found.avatar_id or "")}
        print(json.dumps({"watermarked" if k == "found" else k: v for k, v in result.items()}))
    elif found.found:
        named = f", avatar {avatars[found.avatar_id]!r} ({found.avatar_id})" if found.avatar_id else ""
        print(f"watermarked by {found.service} (confidence {found.confidence:.6f}, score {found.score}){named}")
    else:
        print(f"no watermark found (score {found.score}, under the detection threshold)")
    return 0 if found.found else 1


def _avatars_list(args: argparse.Namespace, settings: Settings) -> int:
    records = _store(settings).list()
    if not records:
        print("no avatars yet: make one with `voice-avatar enroll --name NAME FILE...`")
    for record in records:
        print(f"{record.name}\t{record.status}\t{record.engine}\t{record.created_at}\t{record.id}")
    return 0


def _avatars_show(args: argparse.Namespace, settings: Settings) -> int:
    record = _store(settings).get(args.name)
    if args.json:
        print(json.dumps(record.to_json(), indent=2))
        return 0
    print(f"{record.name} ({record.id}): {record.status}, engine {record.engine}, created {record.created_at}")
    print(f"  {record.sample_seconds:.1f} s of audio, {record.speech_seconds:.1f} s of speech")
    _print_scores(record)
    return 0


def _avatars_delete(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.deletion import delete_avatar

    with _deleting(settings) as (cache, cloud):
        record = delete_avatar(_store(settings), args.name, cache, cloud)
    _audit(settings, "avatar.delete", "avatar", record.id)
    _print_removal(args, record.to_json(), [record.summary()], record.warnings())
    return 0 if record.complete else 1


@contextmanager
def _deleting(settings: Settings) -> Iterator[tuple]:
    """The audio cache and cloud engines a deletion must also clean (the cache closed afterwards)."""
    from voice_avatar.cache import make_cache
    from voice_avatar.engines.cloud.registry import cloud_engines

    cache = make_cache(settings)
    try:
        yield cache, cloud_engines(settings)
    finally:
        cache.close()


def _print_removal(args: argparse.Namespace, body: dict, lines: list[str], warnings: list[str]) -> None:
    print(json.dumps(body, indent=2) if args.json else "\n".join(lines))
    for warning in warnings:
        print(f"voice-avatar: warning: {warning}", file=sys.stderr)


def _users_delete(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.accounts import delete_user
    from voice_avatar.store import open_store

    store = open_store(settings)
    with _deleting(settings) as (cache, cloud):
        body = delete_user(store.sessions, args.user_id, blobs=store.blobs, cache=cache, cloud=cloud)
    removed, kept = body["removed"], body["kept_anonymised"]
    lines = [
        *(f"  {_removal_of(a).summary()}" for a in removed["avatars"]),
        f"deleted user {args.user_id}: {len(removed['avatars'])} avatar(s), {removed['api_keys']} API key(s), "
        f"{removed['consent_challenges']} consent challenge(s), {removed['quota_counters']} quota counter(s); "
        f"kept anonymised: {kept['usage_events']} usage record(s)",
    ]
    warnings = [w for a in removed["avatars"] for w in _removal_of(a).warnings()]
    _print_removal(args, body, lines, warnings)
    return 0 if body["complete"] else 1


def _removal_of(body: dict):
    from voice_avatar.deletion import AvatarRemoval, ProviderVoiceRemoval

    removed = dict(body["removed"])
    voices = [ProviderVoiceRemoval(**v) for v in removed.pop("provider_voices")]
    return AvatarRemoval(id=body["id"], name=body["name"], provider_voices=voices, **removed)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    import uvicorn

    from voice_avatar.service.app import create_app

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, not {args.port}")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, not {args.workers}")
    if args.workers > 1 and not settings.redis_url:
        # Embedded mode runs enrollments on a thread of the API process and resumes pending ones at
        # start-up: several processes would each resume (and fit) the same avatar.
        raise InputError("--workers above 1 needs VOICE_AVATAR_REDIS_URL (embedded mode is one process)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.workers > 1:
        # One port, N processes: one process uses about one core (the GIL, and Piper runs one
        # sentence at a time per process). Each builds its own app from the same environment.
        import socket

        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(
            "voice_avatar.service.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="info",
        )
        bound = config.bind_socket()
        # uvicorn binds with proto 0, so asyncio leaves Nagle on for accepted connections and each
        # keep-alive request waits ~40 ms for a delayed ACK (uvicorn issue #3149): say it is TCP.
        listener = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
        listener.set_inheritable(True)
        Multiprocess(config, sockets=[listener]).run()
        return 0
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    if not settings.redis_url:
        raise InputError("the worker takes jobs from Redis: set VOICE_AVATAR_REDIS_URL (without it `serve` runs jobs itself)")
    from voice_avatar.jobs import run_worker
    from voice_avatar.store import sessions_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sessions_for(settings)  # migrate before the first job
    run_worker(settings)  # also re-queues enrollments orphaned by a dead worker (see voice_avatar.jobs)
    return 0


def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar import audit
    from voice_avatar.accounts import create_user
    from voice_avatar.store import sessions_for

    with sessions_for(settings).begin() as session:
        user, key = create_user(session, args.name, args.tier, args.admin, plans=settings.tiers)
        detail = {"name": user.name, "tier": user.tier, "admin": user.is_admin}
        audit.record(session, None, "user.create", "user", user.id, **detail)
        result = {"user_id": user.id, "api_key": key}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"user {args.name!r} ({args.tier}) created: id {result['user_id']}")
        print(f"API key (shown once, keep it safe): {result['api_key']}")
    return 0


def _users_list(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.accounts import list_users
    from voice_avatar.store import sessions_for

    with sessions_for(settings)() as session:
        for user in list_users(session):
            print(f"{user.id}\t{user.name}\t{user.tier}\t{'admin' if user.is_admin else ''}")
    return 0


def _users_set_tier(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar import audit
    from voice_avatar.accounts import set_tier
    from voice_avatar.db import User
    from voice_avatar.store import sessions_for

    with sessions_for(settings).begin() as session:
        before = getattr(session.get(User, args.user_id), "tier", None)
        user = set_tier(session, args.user_id, args.tier, plans=settings.tiers)
        audit.record(session, None, "user.set_tier", "user", user.id, tier=user.tier, previous_tier=before)
        print(f"user {user.name!r} is now on the {user.tier} tier")
    return 0


def _audit(settings: Settings, action: str, target_type: str, target_id: str, **detail: object) -> None:
    """One audit row for a CLI change; the actor is the local operator (no user id)."""
    from voice_avatar import audit
    from voice_avatar.store import sessions_for

    with sessions_for(settings).begin() as session:
        audit.record(session, None, action, target_type, target_id, **detail)


def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar import audit
    from voice_avatar.accounts import get_user, issue_key
    from voice_avatar.store import sessions_for

    with sessions_for(settings).begin() as session:
        record, key = issue_key(session, get_user(session, args.user_id))
        audit.record(session, None, "key.issue", "api_key", record.id, user_id=record.user_id)
        result = {"key_id": record.id, "user_id": record.user_id, "api_key": key}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"key {result['key_id']} issued to user {result['user_id']}")
        print(f"API key (shown once, keep it safe): {key}")
    return 0


def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.accounts import get_user, list_keys
    from voice_avatar.store import sessions_for

    with sessions_for(settings)() as session:
        rows = [_key_json(k) for k in list_keys(session, get_user(session, args.user_id))]
    if args.json:
        print(json.dumps(rows))
    for row in [] if args.json else rows:
        print(f"{row['id']}\t{row['prefix']}...\t{row['created_at']}\t{row['revoked_at'] or 'active'}")
    return 0


def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar import audit
    from voice_avatar.accounts import revoke_key
    from voice_avatar.db import ApiKey
    from voice_avatar.store import sessions_for

    with sessions_for(settings).begin() as session:
        known = session.get(ApiKey, args.key_id)
        already = known is not None and known.revoked_at is not None
        record = revoke_key(session, args.key_id)
        if not already:
            audit.record(session, None, "key.revoke", "api_key", record.id, user_id=record.user_id)
    print(f"key {record.id} was already revoked" if already else f"key {record.id} revoked")
    return 0


def _key_json(key) -> dict:
    revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else None
    created = key.created_at.isoformat(timespec="seconds")
    return {"id": key.id, "prefix": key.prefix, "created_at": created, "revoked_at": revoked}


def _config(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.settings import masked_settings

    print(json.dumps(masked_settings(settings), indent=2, default=str))
    return 0


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Proves an offline install works: every model loads from installed packages and speaks."""
    from voice_avatar.engines.local import LocalCloneEngine

    started = time.perf_counter()
    audio = LocalCloneEngine().synthesize_raw("Hello! Your voice avatar service is installed and working.")
    print(f"piper: {audio.duration:.2f} s of speech in {time.perf_counter() - started:.2f} s")
    from voice_avatar.asr import transcribe

    started = time.perf_counter()
    heard = transcribe(audio).text
    print(f"whisper: heard {heard!r} in {time.perf_counter() - started:.2f} s")
    from voice_avatar.speaker import SpeakerEncoder

    embedding = SpeakerEncoder().embed_utterance(audio.at_rate(16000).samples)
    print(f"speaker encoder: {embedding.shape[0]}-d embedding")
    print(f"home: {settings.home} ({len(_store(settings).list())} avatars)")
    ok = "working" in heard.lower()
    print("doctor: all models loaded offline" if ok else "doctor: speech was not recognised")
    return 0 if ok else 1


class _ProgressBar:
    """A tqdm bar on stderr fed by the services' (fraction, stage) callbacks.

    The bar appears at the first report, which services send only once the input has been
    read and accepted, so an input error stays a single line on stderr.
    """

    def __enter__(self) -> Callable[[float, str], None]:
        from tqdm import tqdm

        self._bar = None

        def update(fraction: float, stage: str) -> None:
            if self._bar is None:
                self._bar = tqdm(total=100, unit="%", file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}")
            self._bar.set_description(stage)
            self._bar.n = round(100 * max(0.0, min(1.0, fraction)))
            self._bar.refresh()

        return update

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self._bar is not None:
            self._bar.leave = exc_type is None  # on failure the bar clears itself: the error stays alone
            self._bar.close()


if __name__ == "__main__":
    sys.exit(main())
