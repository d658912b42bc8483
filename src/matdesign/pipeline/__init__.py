"""The end-to-end design pipeline: guided sampling → backprojection → verification → refinement → report."""
