"""convexrelu: deep (three-layer, parallel) ReLU networks trained to global
optimality through an equivalent convex program (Ergen & Pilanci, ICML 2021).
"""

from ._validation import DataScaleWarning
from .arrangements import Arrangements, sample_arrangements
from .cv import ConvexDeepReLUClassifierCV, ConvexDeepReLURegressorCV
from .estimators import ConvexDeepReLUClassifier, ConvexDeepReLURegressor, ModelVersionWarning
from .duality import Certificate, duality_gap
from .enumeration import enumerate_arrangements
from .extraction import ReLUNetwork, extract_network
from .losses import get_loss
from .memory import FitMemoryError, estimate_fit_memory
from .operator import LiftedOperator
from .optimality import OptimalityCertificate, optimality_certificate
from .path import ConvexPath, alpha_grid, alpha_max, convex_path
from .solvers import ConvexResult, available_solvers, solve_convex
from .trained_patterns import train_arrangements

__version__ = "0.1.0"

__all__ = [
    "Arrangements",
    "Certificate",
    "ConvexDeepReLUClassifier",
    "ConvexDeepReLUClassifierCV",
    "ConvexDeepReLURegressor",
    "ConvexDeepReLURegressorCV",
    "ConvexPath",
    "ConvexResult",
    "DataScaleWarning",
    "FitMemoryError",
    "LiftedOperator",
    "ModelVersionWarning",
    "OptimalityCertificate",
    "ReLUNetwork",
    "alpha_grid",
    "alpha_max",
    "available_solvers",
    "convex_path",
    "duality_gap",
    "enumerate_arrangements",
    "estimate_fit_memory",
    "extract_network",
    "get_loss",
    "optimality_certificate",
    "sample_arrangements",
    "solve_convex",
    "train_arrangements",
    "__version__",
]
