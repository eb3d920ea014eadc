"""Bar builder service: OHLCV bars from the trade stream on the KRX session grid."""
