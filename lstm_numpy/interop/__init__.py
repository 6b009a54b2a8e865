"""Models in and out of other frameworks: ``state_files`` (read and write .safetensors, .npz
and, where PyTorch is installed, .pt state dicts, never unpickling anything) and
``torch_tagger`` (a PyTorch ``nn.Embedding -> nn.LSTM -> nn.Linear`` tagger to this project's
checkpoint and back)."""
