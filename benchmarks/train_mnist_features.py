"""Train the MNIST feature network of `keras_vae.diagnostics.mnist_feature_extractor`.

Reads MNIST's four IDX files from `--mnist-dir`, trains the classifier on
the 60,000 training images (intensities `pixel / 255`, no augmentation),
scales the feature layer by the training images' statistics, prints the accuracy on the 10,000 test images, and saves the weights to
`--output` (by default the package's shipped file). Seeded: a rerun on the
same backend and machine gives the same weights.

    python benchmarks/train_mnist_features.py --mnist-dir <MNIST_DIR>
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from keras_vae.datasets.idx_source import read_split
from keras_vae.diagnostics import mnist_features


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", required=True, help="directory of the IDX files")
    parser.add_argument("--output", default=mnist_features.WEIGHTS_FILE)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    x_train = read_split(args.mnist_dir, "train").astype("float32") / 255.0
    y_train = read_split(args.mnist_dir, "train", labels=True).astype("int32")
    x_test = read_split(args.mnist_dir, "test").astype("float32") / 255.0
    y_test = read_split(args.mnist_dir, "test", labels=True).astype("int32")

    network = mnist_features.feature_network()
    model = keras.Model(network.input, network.outputs[1])
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start_wall, start_cpu = time.time(), time.process_time()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=2)
    wall, cpu = time.time() - start_wall, time.process_time() - start_cpu

    logits = model.predict(x_test, batch_size=1000, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=-1) == y_test))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    # The features: the hidden layer shifted and scaled by the mean and
    # variance of all its entries over the training images (one scalar each,
    # the Normalization layer's weights).
    hidden = keras.Model(network.input, network.get_layer("hidden").output)
    network.get_layer("features").adapt(hidden.predict(x_train, batch_size=1000, verbose=0))
    # `network` is not compiled: its file holds no optimizer slots.
    network.save_weights(args.output)
    print(
        json.dumps(
            {
                "test_accuracy": accuracy,
                "epochs": args.epochs,
                "parameters": network.count_params(),
                "weights_bytes": os.path.getsize(args.output),
                "backend": keras.backend.backend(),
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
