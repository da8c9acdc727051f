import CheckpointKit
print("ckpt")
