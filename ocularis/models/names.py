"""The classifier bodies' names without their builders (which import torch): classification, metric learning and
landmarks declare them in their TaskSpecs, so `train --model` is checked before torch loads."""

CLASSIFIERS = ("simple_cnn", "lenet5", "alexnet", "vgg11", "vgg16", "resnet18", "resnet50", "inception_v3",
               "squeezenet1_1", "densenet121", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large")
