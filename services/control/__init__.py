"""The control interface: dynamicCall signature normalisation, the OCX event list, the real QAxWidget shell."""
