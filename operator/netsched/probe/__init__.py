"""The bandwidth probe agent: iperf3 between nodes, written down as LinkMeasurements.

:mod:`netsched.probe.iperf3` runs iperf3 and reads its JSON; :mod:`netsched.probe.agent`
is the loop ``netsched probe-agent`` runs on every node (a DaemonSet with host
networking). Which pairs probe when is :mod:`netsched.domain.probe_schedule`; what the
samples mean for each link is :mod:`netsched.domain.bandwidth`. docs/probe.md tells the
whole story.
"""
