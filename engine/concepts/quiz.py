"""The Concepts page's quiz: ten questions as data, and the live computations behind answers.

Each question knows its choices, which of them are right and why. Three answers are backed by a
computation the page runs: the four candidate triplet losses evaluated on real face embeddings
(question 4), one module embedding all the Siamese branches (question 5), and a real
``nn.Conv3d`` (question 10).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.concepts.conv_shapes import ConvShapes, ConvSpec, conv_shapes
from engine.errors import NoFaceFound
from engine.faces.pipeline import FacePipeline
from engine.training.projection import ResidualProjection, embed_triplet

TRUE_FALSE = ("True", "False")


@dataclass(frozen=True)
class Question:
    number: int
    text: str
    choices: tuple[str, ...]
    correct: frozenset[int]
    """Indices of the right choices (several: "select all that apply")."""
    explanation: str
    demo: str | None = None
    """Which live computation backs the answer (``DEMOS``), if any."""

    @property
    def multiple(self) -> bool:
        return len(self.correct) > 1

    def is_correct(self, chosen: str | Sequence[str]) -> bool:
        """Whether ``chosen`` (one choice, or all chosen ones) is exactly the right answer."""
        picked = [chosen] if isinstance(chosen, str) else list(chosen)
        return {self.choices.index(c) for c in picked} == self.correct

    @property
    def answer(self) -> list[str]:
        return [self.choices[i] for i in sorted(self.correct)]


QUESTIONS: tuple[Question, ...] = (
    Question(
        1,
        "Face verification requires comparing a new picture against one person's face, whereas "
        "face recognition requires comparing a new picture against K persons' faces.",
        TRUE_FALSE,
        frozenset({0}),
        "Verification is 1:1 (is this the person they claim to be?); recognition is 1:K "
        "(which of the K enrolled people is this, if any?). Verify and Recognize are those two.",
    ),
    Question(
        2,
        "Why do we learn a function d(img1, img2) for face verification? (Select all that apply.)",
        (
            "We need to solve a one-shot learning problem.",
            "This allows us to learn to recognize a new person given just a single image of "
            "that person.",
            "Given how few images we have per person, we need to apply transfer learning.",
            "This allows us to learn to predict a person's identity using a softmax output unit, "
            "where the number of classes equals the number of persons in the database plus 1 "
            '(for the final "not in database" class).',
        ),
        frozenset({0, 1}),
        "A similarity d(img1, img2) compared with a threshold needs one enrolled image per "
        "person and no retraining when someone new joins: that is one-shot learning. A softmax "
        "over K + 1 classes would need many images per person and retraining for every new "
        "person; transfer learning is not the reason for d.",
    ),
    Question(
        3,
        "To train the parameters of a face recognition system, it would be reasonable to use a "
        "training set comprising 100,000 pictures of 100,000 different persons.",
        TRUE_FALSE,
        frozenset({1}),
        "Triplet loss needs an anchor and a positive of the same person: with one picture per "
        "person there is no positive pair to learn from. Training sets hold several images of "
        "each person.",
    ),
    Question(
        4,
        "Which of the following is a correct definition of the triplet loss? Consider α > 0.",
        (
            "max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)",
            "max(‖f(A) − f(N)‖² − ‖f(A) − f(P)‖² + α, 0)",
            "max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² − α, 0)",
            "max(‖f(A) − f(N)‖² − ‖f(A) − f(P)‖² − α, 0)",
        ),
        frozenset({0}),
        "The loss must be 0 only when the negative is farther from the anchor than the positive "
        "by at least the margin α: d(A, P) + α ≤ d(A, N). Evaluated on real face embeddings, "
        "only the first formula is 0 for a well-embedded triplet, positive when P and N are "
        "swapped, and α (not 0) when every embedding collapses onto one point.",
        demo="triplet_candidates",
    ),
    Question(
        5,
        "In a Siamese network (the network architecture for face verification), the upper and "
        "lower networks share parameters: they take different input images but have exactly "
        "the same parameters.",
        TRUE_FALSE,
        frozenset({0}),
        "Both branches are one network: f(x1) and f(x2) must live in one embedding space for "
        "‖f(x1) − f(x2)‖ to mean anything. The engine's training runs A, P and N through one "
        "module in one batch.",
        demo="siamese",
    ),
    Question(
        6,
        "You train a ConvNet on a dataset with 100 different classes. You wonder if you can find "
        "a hidden unit which responds strongly to pictures of cats (i.e., a neuron so that, of "
        "all the input/hidden-unit activation pairs, cat pictures tend to maximise it). You are "
        "more likely to find this unit in layer 4 of the network than in layer 1.",
        TRUE_FALSE,
        frozenset({0}),
        "A layer-1 unit sees a 3×3 patch (VGG16's conv1_1) and learns edges and colours; a "
        "layer-4 unit sees about 92×92 pixels (conv4_3) and combines earlier features into "
        "object parts. See which patches maximise real units on the Neurons page.",
        demo="neurons",
    ),
    Question(
        7,
        "Neural style transfer is trained as a supervised learning task in which the goal is to "
        "input two images (x), and train a network to output a new, synthesized image (y).",
        TRUE_FALSE,
        frozenset({1}),
        "Gatys' style transfer trains nothing: the pretrained VGG stays frozen, and gradient "
        "descent changes the pixels of one generated image G to lower J(G) = α J_content + "
        "β J_style. There are no input/output pairs.",
    ),
    Question(
        8,
        "In the deeper layers of a ConvNet, each channel corresponds to a different feature "
        "detector. The style matrix G[l] measures the degree to which the activations of "
        "different feature detectors in layer l vary (or correlate) together with each other.",
        TRUE_FALSE,
        frozenset({0}),
        "G[l]_kk' = Σ_i Σ_j a[l]_ijk · a[l]_ijk': large when channels k and k' fire at the same "
        "positions. The heatmap under “Content and style cost” is a real one, from VGG16.",
        demo="gram",
    ),
    Question(
        9,
        "In neural style transfer, what is updated in each iteration of the optimization "
        "algorithm?",
        (
            "The pixel values of the generated image G",
            "The neural network parameters",
            "The pixel values of the content image C",
            "The regularization parameters",
        ),
        frozenset({0}),
        "G is the only variable: its pixels get the gradient of J(G). C and S are fixed inputs and "
        "the network's weights are frozen (the Style transfer page's VGG has requires_grad off).",
    ),
    Question(
        10,
        "You are working with 3D data. You are building a network layer whose input volume has "
        "size 32×32×32×16 (this volume has 16 channels), and applies convolutions with 32 "
        "filters of dimension 3×3×3 (no padding, stride 1). What is the resulting output "
        "volume?",
        (
            "30×30×30×32",
            "30×30×30×16",
            "Undefined: this convolution step is impossible",
            "32×32×32×32",
        ),
        frozenset({0}),
        "Each spatial size is ⌊(32 + 2·0 − 3) / 1⌋ + 1 = 30, and 32 filters give 32 channels "
        "(each filter spans all 16 input channels). A real nn.Conv3d(16, 32, 3) agrees.",
        demo="conv3d",
    ),
)


# --- question 4: the four candidate losses on real embeddings -----------------------------------
TRIPLET_LOSS_QUESTION = next(q for q in QUESTIONS if q.demo == "triplet_candidates")
Loss = Callable[[float, float, float], float]
TRIPLET_CANDIDATES: tuple[tuple[str, Loss], ...] = tuple(
    zip(
        TRIPLET_LOSS_QUESTION.choices,
        (
            lambda d_ap, d_an, alpha: max(d_ap - d_an + alpha, 0.0),
            lambda d_ap, d_an, alpha: max(d_an - d_ap + alpha, 0.0),
            lambda d_ap, d_an, alpha: max(d_ap - d_an - alpha, 0.0),
            lambda d_ap, d_an, alpha: max(d_an - d_ap - alpha, 0.0),
        ),
        strict=True,
    )
)
"""Question 4's choices as functions of d(A,P) = ‖f(A) − f(P)‖², d(A,N) and α."""


@dataclass(frozen=True)
class FaceTriplet:
    """Real embeddings: A and P one person (P a mirrored, cropped copy of A's photo), N another."""

    anchor: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    chips: tuple[np.ndarray, np.ndarray, np.ndarray]
    names: tuple[str, str, str]
    model_id: str


def sample_photos() -> tuple[np.ndarray, np.ndarray]:
    """Two portraits that packages ship: scikit-image's astronaut (Eileen Collins) and
    matplotlib's grace_hopper."""
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        grace = np.asarray(Image.open(f).convert("RGB"))
    return np.ascontiguousarray(data.astronaut()), grace


def face_triplet(
    pipeline: FacePipeline, anchor_photo: np.ndarray, negative_photo: np.ndarray
) -> FaceTriplet:
    """Embed A (``anchor_photo``), P (A's photo cropped and mirrored) and N (``negative_photo``)."""
    positive_photo = np.ascontiguousarray(anchor_photo[16:-16, 24:-12][:, ::-1])
    faces = []
    for name, photo in (
        ("anchor", anchor_photo),
        ("positive", positive_photo),
        ("negative", negative_photo),
    ):
        found = pipeline.analyze(photo)
        if not found:
            raise NoFaceFound(f"no face in the {name} photo")
        faces.append(found[0])
    a, p, n = faces
    return FaceTriplet(
        a.embedding,
        p.embedding,
        n.embedding,
        (a.chip, p.chip, n.chip),
        ("Eileen Collins", "Eileen Collins (cropped, mirrored)", "Grace Hopper"),
        pipeline.model_id,
    )


@dataclass(frozen=True)
class CandidateScores:
    formula: str
    correct: bool
    good: float
    """Loss of the real triplet (P the same person, N another)."""
    swapped: float
    """Loss with P and N swapped: a triplet the embedding gets wrong."""
    collapsed: float
    """Loss when every image maps to one point (f ≡ constant)."""

    @property
    def behaves(self) -> bool:
        """0 for the good triplet, positive for the wrong one and for the collapse."""
        return self.good == 0 and self.swapped > 0 and self.collapsed > 0


def evaluate_candidates(triplet: FaceTriplet, alpha: float = 0.2) -> list[CandidateScores]:
    """Each candidate formula on the real triplet, on it with P and N swapped, and collapsed."""
    d_ap = float(np.sum((triplet.anchor - triplet.positive) ** 2))
    d_an = float(np.sum((triplet.anchor - triplet.negative) ** 2))
    return [
        CandidateScores(
            formula,
            index in TRIPLET_LOSS_QUESTION.correct,
            good=loss(d_ap, d_an, alpha),
            swapped=loss(d_an, d_ap, alpha),
            collapsed=loss(0.0, 0.0, alpha),
        )
        for index, (formula, loss) in enumerate(TRIPLET_CANDIDATES)
    ]


# --- question 5: one set of parameters for every branch -----------------------------------------
@dataclass(frozen=True)
class SiameseCheck:
    parameter_tensors: int
    parameters: int
    branch_gap: float
    """max |branch output − the module applied to that input alone|: 0 when the branches are
    one module."""
    twin_gap: float
    """max |f(x) in branch A − f(x) in branch P| for the same x fed to both: 0 only with shared
    weights."""


def siamese_check(dim: int = 128, batch: int = 4, seed: int = 0) -> SiameseCheck:
    """Run ``embed_triplet`` (the training loop's three branches) with a randomly initialised
    projection head and show that the branches are one function with one parameter set."""
    generator = torch.Generator().manual_seed(seed)
    model = ResidualProjection(dim)
    with torch.no_grad():
        for parameter in model.parameters():  # an untrained head is the identity: randomise
            parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
        a, n = torch.randn(2, batch, dim, generator=generator)
        out_a, out_p, out_n = embed_triplet(model, a, a, n)  # the same images in A and P
        branch_gap = max(float((out - model(x)).abs().max()) for out, x in ((out_a, a), (out_n, n)))
    params = list(model.parameters())
    return SiameseCheck(
        parameter_tensors=len(params),
        parameters=sum(p.numel() for p in params),
        branch_gap=branch_gap,
        twin_gap=float((out_a - out_p).abs().max()),
    )


# --- question 10: a real Conv3d -----------------------------------------------------------------
QUESTION_10 = ConvSpec.of(3, 32, in_channels=16, filters=32, kernel=3, stride=1, padding=0)


def conv3d_answer() -> ConvShapes:
    """Question 10's layer, by the formula and by ``nn.Conv3d(16, 32, 3)`` on a zero volume."""
    return conv_shapes(QUESTION_10)
