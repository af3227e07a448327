"""Flax models: the LSTM + attention classifier and the weak learner."""
