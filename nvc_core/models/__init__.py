"""The networks of NVC, one module per paper component."""
from nvc_core.models.ms_mcn import MSMCN
from nvc_core.models.neuro_intra import NeuroIntra
from nvc_core.models.neuro_motion import NeuroMotion
from nvc_core.models.neuro_res import NeuroRes
from nvc_core.models.nvc import NVC, NVCConfig
from nvc_core.models.pyramid_flow import PyramidFlowDecoder

__all__ = ["NVC", "NVCConfig", "NeuroIntra", "NeuroMotion", "NeuroRes", "MSMCN", "PyramidFlowDecoder"]
