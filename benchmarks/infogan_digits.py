"""InfoGAN on the real handwritten digits without their labels (Chen et al. 2016: a 10-valued categorical code and
two continuous ones): how well the categories it finds match the digits, as
LeNet-5 (trained on the same digits) labels 50 samples of each, every category matched to a different digit
(the Hungarian method; chance is about 0.1-0.15). Beside it, in the same process, the same GAN with the information
term switched off (--info-weight 0): its categories are ignored by the generator, so they match nothing.

    python benchmarks/infogan_digits.py                     # 150 epochs: about 5 minutes on two cores
    python benchmarks/infogan_digits.py --epochs 100 --out runs/infogan
"""

import argparse
import json
import tempfile
import time

import ocularis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--info-weight", type=float, default=4.0, help="the information term's weight (the paper's "
                        "1 found half the digits here)")
    parser.add_argument("--latent", type=int, default=16, help="the noise's length beside the codes")
    parser.add_argument("--continuous", type=int, default=2, help="continuous codes beside the category")
    parser.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        project = args.out or temporary
        judge = ocularis.Classifier(model="lenet5", lr=0.003, progress=False, project=project).fit("digits",
                                                                                                   epochs=30)
        print(f"judge: LeNet-5 on the digits, test accuracy {judge.metrics.values['accuracy']:.3f}", flush=True)
        report = {"epochs": args.epochs, "latent": args.latent, "continuous": args.continuous,
                  "info_weight": args.info_weight}
        for name, weight in (("infogan", args.info_weight), ("no_information_term", 0.0)):
            start = time.perf_counter()
            run = ocularis.Generator(model="dcgan", imgsz=16, categories=10, continuous=args.continuous,
                                     latent=args.latent, info_weight=weight, features=str(judge.best), progress=False,
                                     project=project).fit("digits", epochs=args.epochs)
            report[name] = {"code_purity": round(run.metrics.code_purity, 3),
                            "fid": round(run.metrics.fidelity.fid, 4),
                            "minutes": round((time.perf_counter() - start) / 60, 1), "run": str(run.dir)}
            print(json.dumps({name: report[name]}), flush=True)
        print(json.dumps(report))


if __name__ == "__main__":
    main()
