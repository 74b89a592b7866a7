"""What any trained model is used for beyond its own predictions, whatever its task: an image index to search
(indexing), clusters of a folder (clustering), and whether two images show one identity (verifying). Above the
engine (they read a model's embeddings through it), below the tasks and tools whose verbs run them."""
