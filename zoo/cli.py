"""The `zoo` command: list, info, translate, evaluate."""

import argparse
import json
import os
import sys


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="zoo", description="Recurrent sequence models with attention.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("list", help="registered models (and whether a trained one ships)")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. '*lstm*'")
    p = commands.add_parser("info", help="task, description and card of a model")
    p.add_argument("name")
    p = commands.add_parser("translate", help="translate sentences with a shipped model")
    p.add_argument("sentences", nargs="+")
    p.add_argument("--model", default="lstm-seq2seq-attn")
    p.add_argument("--beam-size", type=int, default=5)
    p = commands.add_parser("evaluate", help="score a shipped model on its test split")
    p.add_argument("name")
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    args = parser.parse_args(argv)

    import zoo

    try:
        if args.command == "list":
            for name in zoo.list_models(args.pattern):
                entry = zoo.info(name)
                shipped = "trained" if entry["card"] else "-"
                print(f"{name:24s} {entry['task']:16s} {shipped:8s} {entry['description']}")
        elif args.command == "info":
            print(json.dumps(zoo.info(args.name), indent=2, ensure_ascii=False))
        elif args.command == "translate":
            model = zoo.load(args.model)
            for line in model.translate(args.sentences, beam_size=args.beam_size):
                print(line)
        elif args.command == "evaluate":
            model = zoo.load(args.name)
            card = zoo.info(args.name)["card"]
            if card["task"] != "translation":
                raise ValueError(f"`zoo evaluate` knows no task {card['task']!r} yet.")
            from zoo.evaluate import evaluate_translation

            results = evaluate_translation(model, card["data"]["pair"], args.split,
                                           beam_sizes=(1, args.beam_size), limit=args.limit)
            print(json.dumps(results, indent=2))
    except (ValueError, FileNotFoundError) as e:
        print(f"zoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
