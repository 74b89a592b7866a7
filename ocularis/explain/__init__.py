"""Looking inside networks: where they look, what their layers hold, how they fail. Knows no task: the engine runs
these on any task through its explanation hooks (ocularis.engine.explaining).

The method names are here, importing nothing, so the command line can list them without loading torch."""

CAMS = ("cam", "gradcam", "gradcam++", "scorecam")
ATTRIBUTIONS = ("saliency", "guided_backprop", "integrated_gradients", "occlusion")
ATTACKS = ("fgsm", "pgd")  # need class logits
LAYER_PICTURES = ("feature_maps", "deepdream")  # need a layer, as the CAMS do
PICTURES = (*LAYER_PICTURES, *ATTACKS)  # per-image methods whose answer is a picture of its own
IMAGE_METHODS = (*CAMS, *ATTRIBUTIONS, *PICTURES)
DATA_METHODS = ("tsne", "pca", "projector", "neighbours", "robustness", "filters", "maximise", "top_patches")
EVERY_BOX = "all"  # a detector's target that explains each of its detections, one explanation per box
TARGET_HELP = (f"class to explain (default: each input's own answer); {EVERY_BOX!r}: every answer (a detector's "
               "boxes); a landmark model's attribute (glasses, or glasses=yes) or coordinate (left_eye.x)")
