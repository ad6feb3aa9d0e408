"""ORM models; importing this package registers every table on Base.metadata."""

from app.models.base import Base
from app.models.contamination import (
    ContaminationChecked,
    ContaminationFlag,
    ContaminationRun,
    EmbeddingCache,
    EvalIndexBlob,
    FlagStatus,
)
from app.models.diversity import DiversityRun, DiversityScore
from app.models.enums import (
    ItemKind,
    ItemStatus,
    JobState,
    LabelState,
    Preference,
    ReviewDecision,
    Role,
    Source,
)
from app.models.evalset import EvalItem, EvalSet
from app.models.evaluation import EvalGatePolicy, EvalSetSetting, EvaluationResult, EvaluationRun
from app.models.export import ExportSnapshot
from app.models.feedback import FeedbackEntry, FeedbackMapping, FeedbackPairLink
from app.models.items import Example, PreferencePair, Revision
from app.models.job import Job
from app.models.labeling import Label, LabelSlot, Review
from app.models.project import Project, ProjectMember
from app.models.selection import Selection, SelectionItem
from app.models.synthetic import (
    SyntheticProvenance,
    SyntheticRun,
    SyntheticSettings,
    SyntheticTemplate,
)
from app.models.throttle import LoginThrottle
from app.models.training import TrainingMetric, TrainingRun
from app.models.user import ApiToken, User

__all__ = [
    "ApiToken",
    "Base",
    "ContaminationChecked",
    "ContaminationFlag",
    "ContaminationRun",
    "DiversityRun",
    "DiversityScore",
    "EmbeddingCache",
    "EvalGatePolicy",
    "EvalIndexBlob",
    "EvalItem",
    "EvalSet",
    "EvalSetSetting",
    "EvaluationResult",
    "EvaluationRun",
    "Example",
    "ExportSnapshot",
    "FeedbackEntry",
    "FeedbackMapping",
    "FeedbackPairLink",
    "FlagStatus",
    "ItemKind",
    "ItemStatus",
    "Job",
    "JobState",
    "Label",
    "LabelSlot",
    "LabelState",
    "LoginThrottle",
    "Preference",
    "PreferencePair",
    "Project",
    "ProjectMember",
    "Review",
    "ReviewDecision",
    "Revision",
    "Role",
    "Selection",
    "SelectionItem",
    "Source",
    "SyntheticProvenance",
    "SyntheticRun",
    "SyntheticSettings",
    "SyntheticTemplate",
    "TrainingMetric",
    "TrainingRun",
    "User",
]
