"""What ``cloudphot COMMAND --help`` says beyond the options: a description for every
command and worked examples, as astropy's and STILTS' tools give.

:func:`apply` is called by :func:`cloudphot.cli.build_parser` once the plugins have
registered their commands: each (sub)command gets :class:`HelpFormatter` (paragraphs
filled, examples kept as written, defaults shown), the description below when its
plugin gave none, and an ``examples:`` epilog. ``tests/cli/test_help.py`` parses
every example with the real parser, so an example that no longer parses fails there.
"""

from __future__ import annotations

import argparse
import textwrap

__all__ = ["DESCRIPTIONS", "EXAMPLES", "HelpFormatter", "apply"]


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions are filled paragraph by paragraph; an indented block (the examples)
    is printed as written; an option's default is shown unless its help names it."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for block in textwrap.dedent(text).strip("\n").split("\n\n"):
            lines = block.splitlines()
            if any(line.startswith(" ") for line in lines[1:]) or block.startswith(" "):
                blocks.append("\n".join(indent + line for line in lines))
            else:
                blocks.append(
                    textwrap.fill(
                        " ".join(block.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                    )
                )
        return "\n\n".join(blocks)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or "%(default)" in text:
            return text
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or default == []:
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


#: a description for the commands whose plugin gives only the one-line help
DESCRIPTIONS: dict[str, str] = {
    "aws": (
        "Commands about the AWS account itself, before a stack exists: 'cloudphot aws "
        "doctor' says what the account lacks for a deploy and a first big run."
    ),
    "register": (
        "Load the task registry (which task reacts to which event, and what runs it) into "
        "the tasks table. 'cloudphot init' does this; run it again after editing the "
        "registry file."
    ),
    "run": (
        "Drain the queue: dispatch the recorded events to the tasks they trigger and run "
        "the pending jobs, until nothing is left. 'upload' does this itself unless given "
        "--no-run; 'run' also resumes what a killed or interrupted run left behind, from "
        "its checkpoints. Exits 1 when a job failed or an event was set aside."
    ),
    "status": (
        "One screen of the workspace: events and jobs by state, exposures registered, each "
        "field's stage (and what it waits for, with the command that moves it on), "
        "rejected uploads with the reason, failed jobs with the rerun command, dead letters."
    ),
    "executions": (
        "State machine executions, newest first, as the Step Functions console lists them: "
        "name (the job id), state machine, status, start and duration. 'cloudphot history "
        "NAME' shows one execution's events."
    ),
    "history": (
        "One execution's event history, as the Step Functions console shows it: each "
        "state entered and left, task scheduled/succeeded/failed, retries, with times. The "
        "names are the job ids that 'status', 'tree' and 'executions' print."
    ),
    "retry": (
        "Rerun the jobs an event triggered: its failed ones, or all of them with --force. "
        "Event ids are printed by 'status' and 'tree --all'. --failed reruns every failed "
        "job of the workspace; --dead-letters takes back the events the dispatcher set "
        "aside. A rerun resumes from the job's checkpoints."
    ),
    "replay": (
        "Rerun what an event triggered with changed task options, as a new branch: the "
        "original products stay, the branch's go under their own name. --set is checked "
        "against the options' schema before anything is stored; an unknown name is "
        "refused with the list of valid ones."
    ),
    "reconcile": (
        "Compare the raw bucket with the events table and emit an object.created event for "
        "every object whose notification was lost (a crash between the put and its event), "
        "then drain the work they trigger. Objects already seen start nothing."
    ),
    "tree": (
        "The causal tree: each root event (an upload), the jobs it triggered, the events "
        "they emitted and so on. Succeeded subtrees are folded (--all expands them); "
        "failures stand out with their error and the command that reruns them."
    ),
    "serve": (
        "Serve the catalog to astronomers' tools: TAP (/tap, for TOPCAT and pyvo), cone "
        "search (/scs), image access (/sia) and cutouts (/cutout), with the web monitor "
        "(the event tree, job pages, retry buttons) at /. Binds 127.0.0.1 by default."
    ),
    "user": (
        "Accounts of the TAP service: 'add NAME' prints a token once (stored hashed) that "
        "gives NAME personal tables (TAP_UPLOAD, async results); 'token NAME' issues a new "
        "one; 'remove NAME' deletes the account; 'list' names them."
    ),
    "cost": (
        "What the runs so far would cost on AWS, by task and field (Lambda GB-seconds, "
        "Fargate Spot vCPU-hours, requests, storage), from the recorded durations; or, with "
        "--estimate DIR, what uploading the exposures under DIR would cost. --budget makes "
        "it a check (exit status 3 when over)."
    ),
    "demo": (
        "Simulate a crowded M31-like field, reduce it through the real state machines on the "
        "local stand-in for AWS, and print what was recovered against the truth: stars per "
        "filter and quality set, photometric accuracy, Cepheid periods, and where the "
        "products are. Resumes an interrupted demo unless given --fresh."
    ),
    "query": (
        "Read-only SQL (PostgreSQL syntax, as Data Lab takes it; ADQL's SELECT TOP n too) on the catalog's tables phot_mod (one row per "
        "object), phot_meas (one per measurement), phot_visit, phot_pm and phot_var, "
        "qualified by the survey (phat_v2.phot_mod). The result is bounded by --max-rows "
        "and --timeout; columns and units: docs/catalog-columns.md."
    ),
    "cone": (
        "Objects within RADIUS of (RA, DEC), nearest first. RA and DEC are ICRS degrees "
        "(10.68, -41.27) or sexagesimal (00:42:44.3 +41:16:09, 0h42m44.3s 41d16m09s: RA with "
        "colons is hours); RADIUS takes a unit (2arcsec, 0.5arcmin, 1deg), a bare number is "
        "degrees."
    ),
    "lightcurve": (
        "Lomb-Scargle period of one object's light curve and a PNG of it folded at that "
        "period, per filter. Name the object by its objid or by --ra/--dec (degrees or "
        "sexagesimal) with a match --radius."
    ),
    "map": (
        "A PNG map of the catalog on HEALPix pixels: star density (per arcmin² of the sky "
        "the exposures cover, so a pixel the field only partly covers is not diluted), mean "
        "magnitude or mean colour. The order defaults to the finest that keeps at least a "
        "few pixels on the field's footprint (at most 12, the pix4096 order)."
    ),
    "catalog": (
        "The survey catalog built from the field products: 'build' merges new or refreshed "
        "fields into a new version, 'versions' lists the versions, 'export-fits' writes a "
        "version's HLSP-named FITS tables, 'verify' checks a version's files against their "
        "checksums, 'prune' deletes old versions."
    ),
    "catalog build": (
        "Merge the fields' photometry products into a new catalog version (phot_mod, "
        "phot_meas and the derived tables, as HATS partitions). Only new or refreshed "
        "fields are read; an up-to-date catalog is left as it is. The pipeline does this "
        "itself after each field; run it after changing fields by hand."
    ),
    "catalog export-fits": (
        "Write a catalog version's tables as HLSP-named FITS files (the MAST high-level "
        "science product convention) into the products bucket, and with --out-dir also "
        "into a local folder; prints the files written."
    ),
    "catalog versions": "List the catalog's versions: number, date, objects, measurements, fields.",
    "catalog verify": (
        "Check every file of a catalog version against the SHA-256 its manifest records "
        "(on S3, by default against S3's own checksums; --full downloads and hashes each). "
        "Corrupt files are named; exit status 2 when any is."
    ),
    "catalog prune": (
        "Delete all but the newest --keep versions; files a kept version shares with a "
        "pruned one stay. Prints what was removed."
    ),
}

#: worked examples per command: (command line after 'cloudphot', what it does)
EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "": [
        ("simulate S --preset tiny", "a small simulated field, its manifest and truth.fits"),
        ("upload S", "upload it: this reduces the field and builds the catalog"),
        ("status", "what happened, and what to do next"),
        ('query "SELECT count(*) FROM phat_v2.phot_mod"', "read the catalog"),
    ],
    "init": [
        ("init", "make ./cloudphot-work (or $CLOUDPHOT_HOME)"),
        ("--workdir ~/m31 init", "a workspace in a folder of your choice"),
    ],
    "register": [
        ("register", "reload the packaged task registry"),
        ("register my-tasks.toml", "load your own registry file"),
    ],
    "upload": [
        ("upload S", "a folder: its exposures and manifests/*.json (truth.fits is skipped)"),
        ("upload data/*_flc.fits", "exposures only: each field waits for its manifest"),
        ("upload m31-b15-f09.json", "a manifest: goes to manifests/m31-b15-f09.json"),
        ("upload --no-run S", "only upload; 'cloudphot run' does the work later"),
    ],
    "manifest": [
        ("manifest m31-b15-f09", "list every registered exposure of the field and upload it"),
        ("manifest m31-b15-f09 -o m.json", "only write it, to edit and upload yourself"),
    ],
    "run": [
        ("run", "drain the queue (and resume an interrupted run)"),
        ("run --workers 2 --budget 5", "two jobs at once; start nothing new past $5"),
    ],
    "status": [
        ("status", "events, jobs, fields and failures"),
        ("status --json", "the same, for scripts"),
    ],
    "executions": [
        ("executions --status FAILED", "the failed executions"),
        ("executions --limit 10 --json", "the ten newest, as JSON"),
    ],
    "history": [
        ("history JOB_ID", "one execution's events (JOB_ID from status, tree or executions)"),
        ("history JOB_ID --json", "the raw history events"),
    ],
    "retry": [
        ("retry EVENT_ID", "rerun the failed jobs of one event (ids: status, tree --all)"),
        ("retry --failed", "rerun every failed job"),
        ("retry EVENT_ID --task reduce_field --force", "rerun one task even if it succeeded"),
        ("retry --dead-letters", "take back the events the dispatcher set aside"),
    ],
    "replay": [
        (
            "replay EVENT_ID --set photometry.detect_threshold_sigma=4",
            "rerun with one option changed, as a new branch",
        ),
        ("replay EVENT_ID --set photometry.nope=1", "refused: lists the valid option names"),
    ],
    "reconcile": [("reconcile", "emit the events of objects whose notification was lost")],
    "tree": [
        ("tree", "roots, with failed subtrees expanded"),
        ("tree --failed --since yesterday", "only what failed since yesterday"),
        ("tree --subject m31-b15-f09 --all", "everything that touched one field"),
    ],
    "serve": [
        ("serve", "http://127.0.0.1:8765/ (monitor) and /tap (TOPCAT: TAP URL .../tap)"),
        ("serve --port 0 --log-requests", "any free port, one line per request"),
    ],
    "user": [
        ("user add alice", "an account; prints alice's token once"),
        ("user list", "the accounts"),
    ],
    "cost": [
        ("cost", "what the runs so far would cost on AWS"),
        ("cost --estimate S --budget 2", "predict uploading S; exit 3 if over $2"),
        ("cost --survey phat", "the whole survey: one reduction, then S3 and Athena per month"),
        ("cost --survey phat --full-copies --keep 0", "catalog versions as full copies, all kept"),
    ],
    "aws": [("aws doctor", "check your account before the first sam deploy")],
    "aws doctor": [
        ("aws doctor", "quotas and roles against the template and a brick's plan"),
        ("aws doctor phat --region eu-west-1", "the whole survey, in another region"),
        (
            "aws doctor --offline --parameter-overrides CatalogTaskMemory=30720",
            "only the template's task sizes, with a parameter as sam deploy gets it",
        ),
    ],
    "plan": [
        ("plan brick", "one PHAT brick (3x6 fields): executions, transitions, cost"),
        ("plan phat --json", "the whole survey, as JSON"),
    ],
    "demo": [
        ("demo", "the README's demo: about a minute"),
        ("demo --preset tiny --fresh", "seconds, from an empty workspace"),
        ("demo --chaos 0.5", "with half the Spot workers reclaimed mid-run"),
    ],
    "simulate": [
        ("simulate S --preset tiny", "8 small exposures, the manifest, truth.fits"),
        ("simulate S --filters F814W --crowding 2", "one filter, twice as crowded"),
    ],
    "query": [
        ('query "SELECT count(*) FROM phat_v2.phot_mod"', "count the objects"),
        (
            'query "SELECT objid, ra, dec, f814w_vega FROM phat_v2.phot_mod '
            'WHERE f814w_vega < 22" --format csv -o bright.csv',
            "bright stars to a CSV file",
        ),
        ('query "SELECT * FROM phat_v2.phot_var" --format votable -o var.xml', "for TOPCAT"),
    ],
    "cone": [
        ("cone 10.68 41.27 2arcsec", "within 2 arcsec of (10.68, +41.27) degrees"),
        ("cone 00:42:43.2 +41:16:12 0.5arcmin", "sexagesimal: RA in hours, Dec in degrees"),
        ("cone 10.68 -41:16:12 2arcsec", "a negative Dec, sexagesimal"),
        ("cone 10.68 41.27 1arcmin --table phot_meas --format fits -o m.fits", "to a file"),
    ],
    "lightcurve": [
        ("lightcurve 1234567890123", "by objid: period and lightcurve_<objid>.png"),
        ("lightcurve --ra 10.684 --dec 41.269 --radius 0.5arcsec", "the object at a position"),
        ("lightcurve OBJID --filter F814W --min-period 2 --max-period 40", "one filter"),
    ],
    "map": [
        ("map", "star density, map_density.png"),
        ("map --quantity color --color F475W-F814W --mag-max 26", "mean colour of stars < 26"),
        ("map --quantity mean_mag --filter F475W --order 10 -o m.png", "a coarser order"),
    ],
    "catalog": [
        ("catalog build", "merge new field products into a new version"),
        ("catalog versions", "the versions"),
    ],
    "catalog build": [
        ("catalog build", "every field with new or refreshed products"),
        ("catalog build --fields m31-b15-f09", "one field"),
    ],
    "catalog export-fits": [
        ("catalog export-fits --out-dir hlsp", "the latest version, also into ./hlsp"),
        ("catalog export-fits --catalog-version 1", "an earlier version"),
    ],
    "catalog versions": [("catalog versions", "number, date, objects, measurements, fields")],
    "catalog verify": [
        ("catalog verify", "the latest version's files against their checksums"),
        ("catalog verify --catalog-version 2 --full", "an earlier one, every byte hashed"),
    ],
    "catalog prune": [("catalog prune --keep 3", "keep the three newest versions")],
}


def _epilog(examples: list[tuple[str, str]]) -> str:
    lines = ["examples:"]
    for command, what in examples:
        lines.append(f"  cloudphot {command}")
        lines.append(f"      {what}")
    return "\n".join(lines)


def commands(parser: argparse.ArgumentParser, path: str = ""):
    """Every (sub)command parser under ``parser``: ``(path, parser)``, path '' the top."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}".strip())


def apply(parser: argparse.ArgumentParser) -> None:
    """Give every command the formatter, its description (if its plugin gave none) and
    its examples."""
    for path, p in commands(parser):
        p.formatter_class = HelpFormatter
        if not p.description and path in DESCRIPTIONS:
            p.description = DESCRIPTIONS[path]
        if path in EXAMPLES and not p.epilog:
            p.epilog = _epilog(EXAMPLES[path])
