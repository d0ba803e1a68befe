#!/usr/bin/env python3
"""Static checks of deploy/Dockerfile (hadolint is not packaged in Debian; the image itself is
built and run with podman by tests/e2e/test_container.py, a root test). Checks the structure the
deployment relies on and the usual Dockerfile hygiene rules. Base images given through a global
ARG (before the first FROM) are checked with the ARG's default.

Usage: check_dockerfile.py DOCKERFILE
"""
import re
import shlex
import sys

BUILD_DEPS = {"build-essential", "cmake", "clang", "llvm", "libbpf-dev", "bpftool", "libelf-dev",
              "zlib1g-dev", "prometheus-cpp-dev", "libcivetweb-dev", "libabsl-dev", "libspdlog-dev",
              "libfmt-dev", "libprotobuf-dev", "protobuf-compiler", "libcurl4-openssl-dev",
              "libyaml-cpp-dev", "pkg-config"}
KNOWN = {"FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "LABEL", "EXPOSE",
         "ENTRYPOINT", "CMD", "VOLUME", "HEALTHCHECK", "STOPSIGNAL", "SHELL", "ONBUILD"}


def instructions(text):
    """[(line, KEYWORD, args)] with continuations joined and comments dropped."""
    out, buf, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        keyword, _, args = buf.partition(" ")
        out.append((start, keyword.upper(), args.strip()))
        buf = ""
    return out


def main(path):
    errors = []
    ins = instructions(open(path).read())
    stages = []  # [(name, base, [instructions])]
    global_args = {}  # ARG NAME=default before the first FROM, usable in FROM
    for line, kw, args in ins:
        if kw not in KNOWN:
            errors.append(f"line {line}: unknown instruction {kw}")
        if kw == "ARG" and not stages:
            key, eq, default = args.partition("=")
            if not eq or not default:
                errors.append(f"line {line}: global ARG {key} needs a default")
            global_args[key.strip()] = default.strip()
            continue
        if kw == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
            if not m:
                errors.append(f"line {line}: cannot parse FROM {args}")
                continue
            base, name = m.group(1), m.group(2)
            ref = re.fullmatch(r"\$\{?(\w+)\}?", base)
            if ref:
                if ref.group(1) not in global_args:
                    errors.append(f"line {line}: FROM {base} names no global ARG")
                    continue
                base = global_args[ref.group(1)]
            if base != "scratch" and (":" not in base or base.endswith(":latest")):
                errors.append(f"line {line}: base image {base} must have a fixed tag")
            stages.append((name, base, []))
        elif not stages:
            errors.append(f"line {line}: {kw} before FROM")
        else:
            stages[-1][2].append((line, kw, args))

    names = [s[0] for s in stages]
    if len(stages) < 2:
        errors.append("must be multi-stage")
    if not stages or not stages[0][1].startswith("debian:bookworm"):
        errors.append("build stage must be FROM debian:bookworm")
    for name, base, body in stages:
        for line, kw, args in body:
            if kw == "ADD" and re.search(r"https?://", args):
                errors.append(f"line {line}: ADD of a URL; download in RUN with a checksum")
            if kw == "COPY":
                m = re.search(r"--from=(\S+)", args)
                if m and m.group(1) not in names[: names.index(name)]:
                    errors.append(f"line {line}: COPY --from={m.group(1)} names no earlier stage")
            if kw == "RUN" and "apt-get install" in args:
                if "--no-install-recommends" not in args:
                    errors.append(f"line {line}: apt-get install without --no-install-recommends")
                if "-y" not in args.split():
                    errors.append(f"line {line}: apt-get install without -y")
                if "apt-get update" not in args:
                    errors.append(f"line {line}: apt-get install without apt-get update in the same RUN")
                if "rm -rf /var/lib/apt/lists/*" not in args:
                    errors.append(f"line {line}: apt lists not removed in the same RUN")
            if kw == "RUN" and re.search(r"\bcd\s", args):
                errors.append(f"line {line}: use WORKDIR instead of cd")
            if kw == "RUN" and not args.startswith("set -e") and ";" in args:
                errors.append(f"line {line}: a RUN chaining with ';' must start with set -e")

    build_runs = " ".join(a for _, kw, a in stages[0][2] if kw == "RUN") if stages else ""
    installed = set(re.split(r"[\s;]+", build_runs))
    missing = BUILD_DEPS - installed
    if missing:
        errors.append(f"build stage does not install {sorted(missing)}")
    for flag in ("-DLOUPE_BUILD_TESTS=OFF", "-DLOUPE_BUILD_BENCH=OFF"):
        if flag not in build_runs:
            errors.append(f"build stage must configure with {flag}")

    if stages:
        final = stages[-1]
        final_text = " ".join(a for _, _, a in final[2])
        if re.search(r"\blib\S+-dev\b|build-essential|\bclang\b|\bcmake\b", final_text):
            errors.append("final stage must not contain build tools or -dev packages")
        entry = [a for _, kw, a in final[2] if kw == "ENTRYPOINT"]
        if entry != ['["/usr/bin/loupe"]']:
            errors.append(f'final ENTRYPOINT must be ["/usr/bin/loupe"] (exec form), got {entry}')
        if not any(kw == "EXPOSE" and "9400" in a for _, kw, a in final[2]):
            errors.append("final stage must EXPOSE 9400")
        for stage_name, _, body in stages[1:]:
            for line, kw, args in body:
                if kw == "RUN" and "apt-get install" in args:
                    pkgs = [p for p in shlex.split(args.replace(";", " ")) if re.match(r"^lib\S+-dev$", p)]
                    if pkgs:
                        errors.append(f"line {line}: runtime stage installs -dev packages {pkgs}")

    for e in errors:
        print(f"FAIL {e}")
    if not errors:
        print(f"ok   {path}: {len(stages)} stages ({', '.join(str(n) for n in names)}), checks passed")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
