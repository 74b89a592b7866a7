"""The dataset formats `ocularis data convert` writes, by name: no imports, so the CLI's help lists them at once."""

BOX_FORMATS = ("yolo", "coco", "voc", "csv")  # data/convert.py's WRITERS
MASK_FORMATS = ("masks", "coco-seg", "yolo-seg")  # data/segmentation.py's WRITERS (convert_masks)
