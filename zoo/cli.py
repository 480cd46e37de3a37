"""The `zoo` command: list, info, translate, generate, caption, evaluate."""

import argparse
import json
import math
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
    p = commands.add_parser("generate", help="continue a prompt with a character model")
    p.add_argument("name", nargs="?", default="char-lstm")
    p.add_argument("--prompt", default="\n", help="text to continue (printed first)")
    p.add_argument("--length", type=int, default=300, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="0 for greedy")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--weights", default="pretrained",
                   help="a directory written by zoo.saving.save instead of the shipped model")
    p = commands.add_parser("caption", help="caption image files with a shipped model")
    p.add_argument("images", nargs="+", help="image files (any size; RGB, grayscale or CMYK)")
    p.add_argument("--model", default="sat-lstm-squeezenet")
    p.add_argument("--beam-size", type=int, default=3)
    p.add_argument("--attention", metavar="PNG", default=None,
                   help="also save the first image with each word's attention over it")
    p = commands.add_parser("evaluate", help="score a shipped model on its test split")
    p.add_argument("name")
    p.add_argument("--split", default=None, choices=["val", "test"],
                   help="default: test; val for text generation (no test split)")
    p.add_argument("--beam-size", type=int, default=None, help="default: 5 for translation, 3 for captions")
    p.add_argument("--limit", type=int, default=None, help="only the first N sentences (or images)")
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
        elif args.command == "generate":
            task = zoo.info(args.name)["task"]
            if task != "text-generation":
                names = [n for n in zoo.list_models() if zoo.info(n)["task"] == "text-generation"]
                raise ValueError(f"{args.name!r} is a {task} model; `zoo generate` needs one of {names}.")
            model = zoo.load(args.name, weights=args.weights)
            texts = model.generate(args.prompt, args.length, temperature=args.temperature,
                                   top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                                   num_samples=args.num_samples)
            for i, text in enumerate([texts] if isinstance(texts, str) else texts):
                print(("" if i == 0 else "\n" + "-" * 40 + "\n") + args.prompt + text)
        elif args.command == "caption":
            model = zoo.load(args.model)
            captions, maps = model.caption(args.images, beam_size=args.beam_size, return_attention=True)
            for path, caption in zip(args.images, captions):
                print(f"{path}\t{caption}")
            if args.attention:
                from zoo import viz
                from zoo.data.flickr8k import load_image
                from zoo.saving import atomic_write

                words, weights = maps[0]
                figure = viz.caption_attention_figure(load_image(args.images[0], model.image_size), words, weights,
                                                      captions[0])
                atomic_write(args.attention, viz.to_png(figure))
        elif args.command == "evaluate":
            model = zoo.load(args.name)
            card = zoo.info(args.name)["card"]
            if card["task"] == "text-generation":
                if args.split == "test":
                    raise ValueError("the text corpora have no test split (first 90% train, "
                                     "last 10% val): use --split val.")
                from zoo.data.text import load_text

                nats = model.log_loss(load_text(card["data"]["corpus"], "val"))
                bits = nats / math.log(2)
                print(json.dumps({"split": "val", "log_loss": round(nats, 4),
                                  "bits_per_character": round(bits, 4)}, indent=2))
                return 0
            if card["task"] == "captioning":
                from zoo.evaluate import evaluate_captioning

                beam = args.beam_size or 3
                beams = (1, beam) if beam > 1 else (1,)
                results = evaluate_captioning(model, args.split or "test", beam_sizes=beams, limit=args.limit)
                print(json.dumps(results, indent=2))
                return 0
            if card["task"] != "translation":
                raise ValueError(f"`zoo evaluate` knows no task {card['task']!r} yet.")
            from zoo.evaluate import evaluate_translation

            results = evaluate_translation(model, card["data"]["pair"], args.split or "test",
                                           beam_sizes=(1, args.beam_size or 5), limit=args.limit)
            print(json.dumps(results, indent=2))
    except (ValueError, OSError) as e:  # bad names, missing or corrupt files, no network
        print(f"zoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
