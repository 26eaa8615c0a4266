"""Training the forecaster: windows cut from labelled clips (`windows`), batches and the loss (`batches`), the training
loop (`trainer`), the baselines it must beat (`baselines`), appearance of labelled boxes (`appearance`), and the
entry points of `vidtrack train` and `vidtrack eval forecast` (`fit`). Nothing in `vidtrack track` imports it."""
