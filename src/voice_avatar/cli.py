"""`voice-avatar`: a thin command line over the same services the API uses.

Exit codes: 0 success, 1 a check failed (doctor), 2 unusable input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voice-avatar", description="Personal voice avatars, offline.")
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
    delete = avatars_sub.add_parser("delete", help="delete an avatar with its samples and profile")
    delete.add_argument("name")
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
    record: AvatarRecord = _store(settings).delete(args.name)
    print(f"deleted avatar {record.name!r} with its samples and profile")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    import uvicorn

    from voice_avatar.service.app import create_app

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
    import redis
    from rq import Queue, SimpleWorker

    from voice_avatar.jobs import QUEUE_NAME
    from voice_avatar.store import sessions_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sessions_for(settings)  # migrate before the first job
    connection = redis.Redis.from_url(settings.redis_url)
    # SimpleWorker runs jobs in this process, so the models loaded by the first job stay loaded.
    SimpleWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection).work(with_scheduler=False)
    return 0


def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    from voice_avatar.accounts import create_user
    from voice_avatar.store import sessions_for

    with sessions_for(settings).begin() as session:
        user, key = create_user(session, args.name, args.tier, args.admin, plans=settings.tiers)
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
    from voice_avatar.accounts import set_tier
    from voice_avatar.store import sessions_for

    with sessions_for(settings).begin() as session:
        user = set_tier(session, args.user_id, args.tier, plans=settings.tiers)
        print(f"user {user.name!r} is now on the {user.tier} tier")
    return 0


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
