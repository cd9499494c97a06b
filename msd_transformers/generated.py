"""The module of the classes made from the architecture table: `MSD<Upstream>Config` and `MSD<Upstream>For<Task>`.

A class is made on first access (`msd_transformers.generated.MSDBertForTokenClassification`, or the same name on the
package) and from then on is an attribute of this module, whose name is its `__module__` and whose attribute name is
its `__qualname__`. The registry imports this module before it makes the first class, so this module is in
`sys.modules` whenever a generated class exists: pickle, `inspect.getmodule` / `getfile`, and Transformers' custom-code
save find the classes here. Families added at run time with [`register_architecture`] are members too.

The class statements at the end (under `TYPE_CHECKING`: importing this module makes no class and imports no upstream
modeling module) declare every class of the table for editors and type checkers, and are what `inspect.getsource`
returns for a class (written by `python -m msd_transformers.docs`; a test checks they are current). A family added
at run time has no statement here, so `inspect.getsource` raises `OSError` for its classes, as for any class whose
source is not available; `inspect.getfile` and pickling work for them as for the others (unpickling in another
process needs the same `register_architecture` call there first).

`model.register_for_auto_class(...)` then `save_pretrained` copies this file next to the checkpoint (Transformers'
custom-code mechanism). Its imports are absolute, so nothing else is copied: loading with `trust_remote_code=True`
imports the installed `msd_transformers` (which must be installed where the checkpoint is loaded) and returns its
classes, the same classes as `msd_transformers.MSD<Upstream>For<Task>`.

`dir()` of this module lists the classes made so far (`dir(msd_transformers)` lists all of them): Transformers'
exporters walk a model's module with `inspect.getmembers`, which would otherwise make every class of the table.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msd_transformers import __version__
from msd_transformers.registry import generated_class

_STATEMENTS_START = "    # Class statements, written by `python -m msd_transformers.docs`:"


def __getattr__(name: str) -> Any:
    try:
        return generated_class(name)
    except AttributeError:
        hint = (
            f" {name} is not a class of the architecture table of msd_transformers {__version__}; a family added with "
            "msd_transformers.register_architecture(...) must be registered in this process before its classes are "
            "loaded or unpickled."
            if name.startswith("MSD")
            else ""
        )
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}.{hint}") from None


@functools.cache
def _statement_lines() -> dict[str, int]:
    """`{class name: line number}` of the class statements in this file (1-based, as `__firstlineno__`)."""
    text = Path(__file__).read_text(encoding="utf-8")
    start = text.index(_STATEMENTS_START)
    offset = text.count("\n", 0, start)
    return {
        m.group(1): offset + text.count("\n", start, m.start()) + 1
        for m in re.finditer(r"^    class (\w+)\(", text[start:], flags=re.MULTILINE)
    }


def add_class(cls: type) -> type:
    """Make a generated class a member of this module (called by the registry when it makes one): the attribute
    named by its `__qualname__`, and the line of its class statement as `__firstlineno__` (which
    `inspect.getsource` reads on Python 3.13+; earlier versions find the statement by name)."""
    if cls.__module__ != __name__ or cls.__qualname__ != cls.__name__:
        raise ValueError(
            f"{cls.__qualname__} has __module__ {cls.__module__!r}: only classes with __module__ {__name__!r} and "
            "__qualname__ equal to their name belong here."
        )
    line = _statement_lines().get(cls.__name__)
    if line is not None:
        cls.__firstlineno__ = line
    globals()[cls.__name__] = cls
    return cls


if TYPE_CHECKING:
    import transformers

    from msd_transformers.modeling import MSDConfigMixin, MSDModelMixin

    # Class statements, written by `python -m msd_transformers.docs`:
    class MSDASTConfig(MSDConfigMixin, transformers.ASTConfig):
        """`msd-audio-spectrogram-transformer`"""

    class MSDASTForAudioClassification(MSDModelMixin, transformers.ASTForAudioClassification):
        """audio-classification, `msd-audio-spectrogram-transformer`"""

    class MSDAXK1Config(MSDConfigMixin, transformers.AXK1Config):
        """`msd-axk1`"""

    class MSDAXK1ForSequenceClassification(MSDModelMixin, transformers.AXK1ForSequenceClassification):
        """sequence-classification, `msd-axk1`"""

    class MSDAXK1ForTokenClassification(MSDModelMixin, transformers.AXK1ForTokenClassification):
        """token-classification, `msd-axk1`"""

    class MSDAXK2Config(MSDConfigMixin, transformers.AXK2Config):
        """`msd-axk2`"""

    class MSDAXK2ForSequenceClassification(MSDModelMixin, transformers.AXK2ForSequenceClassification):
        """sequence-classification, `msd-axk2`"""

    class MSDAXK2ForTokenClassification(MSDModelMixin, transformers.AXK2ForTokenClassification):
        """token-classification, `msd-axk2`"""

    class MSDAlbertConfig(MSDConfigMixin, transformers.AlbertConfig):
        """`msd-albert`"""

    class MSDAlbertForMultipleChoice(MSDModelMixin, transformers.AlbertForMultipleChoice):
        """multiple-choice, `msd-albert`"""

    class MSDAlbertForQuestionAnswering(MSDModelMixin, transformers.AlbertForQuestionAnswering):
        """question-answering, `msd-albert`"""

    class MSDAlbertForSequenceClassification(MSDModelMixin, transformers.AlbertForSequenceClassification):
        """sequence-classification, `msd-albert`"""

    class MSDAlbertForTokenClassification(MSDModelMixin, transformers.AlbertForTokenClassification):
        """token-classification, `msd-albert`"""

    class MSDApertusConfig(MSDConfigMixin, transformers.ApertusConfig):
        """`msd-apertus`"""

    class MSDApertusForTokenClassification(MSDModelMixin, transformers.ApertusForTokenClassification):
        """token-classification, `msd-apertus`"""

    class MSDArceeConfig(MSDConfigMixin, transformers.ArceeConfig):
        """`msd-arcee`"""

    class MSDArceeForQuestionAnswering(MSDModelMixin, transformers.ArceeForQuestionAnswering):
        """question-answering, `msd-arcee`"""

    class MSDArceeForSequenceClassification(MSDModelMixin, transformers.ArceeForSequenceClassification):
        """sequence-classification, `msd-arcee`"""

    class MSDArceeForTokenClassification(MSDModelMixin, transformers.ArceeForTokenClassification):
        """token-classification, `msd-arcee`"""

    class MSDBartConfig(MSDConfigMixin, transformers.BartConfig):
        """`msd-bart`"""

    class MSDBartForQuestionAnswering(MSDModelMixin, transformers.BartForQuestionAnswering):
        """question-answering, `msd-bart`"""

    class MSDBartForSequenceClassification(MSDModelMixin, transformers.BartForSequenceClassification):
        """sequence-classification, `msd-bart`"""

    class MSDBeamConfig(MSDConfigMixin, transformers.BeamConfig):
        """`msd-beam`"""

    class MSDBeamForTokenClassification(MSDModelMixin, transformers.BeamForTokenClassification):
        """token-classification, `msd-beam`"""

    class MSDBeitConfig(MSDConfigMixin, transformers.BeitConfig):
        """`msd-beit`"""

    class MSDBeitForImageClassification(MSDModelMixin, transformers.BeitForImageClassification):
        """image-classification, `msd-beit`"""

    class MSDBertConfig(MSDConfigMixin, transformers.BertConfig):
        """`msd-bert`"""

    class MSDBertForMultipleChoice(MSDModelMixin, transformers.BertForMultipleChoice):
        """multiple-choice, `msd-bert`"""

    class MSDBertForQuestionAnswering(MSDModelMixin, transformers.BertForQuestionAnswering):
        """question-answering, `msd-bert`"""

    class MSDBertForSequenceClassification(MSDModelMixin, transformers.BertForSequenceClassification):
        """sequence-classification, `msd-bert`"""

    class MSDBertForTokenClassification(MSDModelMixin, transformers.BertForTokenClassification):
        """token-classification, `msd-bert`"""

    class MSDBigBirdConfig(MSDConfigMixin, transformers.BigBirdConfig):
        """`msd-big_bird`"""

    class MSDBigBirdForMultipleChoice(MSDModelMixin, transformers.BigBirdForMultipleChoice):
        """multiple-choice, `msd-big_bird`"""

    class MSDBigBirdForQuestionAnswering(MSDModelMixin, transformers.BigBirdForQuestionAnswering):
        """question-answering, `msd-big_bird`"""

    class MSDBigBirdForSequenceClassification(MSDModelMixin, transformers.BigBirdForSequenceClassification):
        """sequence-classification, `msd-big_bird`"""

    class MSDBigBirdForTokenClassification(MSDModelMixin, transformers.BigBirdForTokenClassification):
        """token-classification, `msd-big_bird`"""

    class MSDBigBirdPegasusConfig(MSDConfigMixin, transformers.BigBirdPegasusConfig):
        """`msd-bigbird_pegasus`"""

    class MSDBigBirdPegasusForQuestionAnswering(MSDModelMixin, transformers.BigBirdPegasusForQuestionAnswering):
        """question-answering, `msd-bigbird_pegasus`"""

    class MSDBigBirdPegasusForSequenceClassification(
        MSDModelMixin, transformers.BigBirdPegasusForSequenceClassification
    ):
        """sequence-classification, `msd-bigbird_pegasus`"""

    class MSDBioGptConfig(MSDConfigMixin, transformers.BioGptConfig):
        """`msd-biogpt`"""

    class MSDBioGptForSequenceClassification(MSDModelMixin, transformers.BioGptForSequenceClassification):
        """sequence-classification, `msd-biogpt`"""

    class MSDBioGptForTokenClassification(MSDModelMixin, transformers.BioGptForTokenClassification):
        """token-classification, `msd-biogpt`"""

    class MSDBitConfig(MSDConfigMixin, transformers.BitConfig):
        """`msd-bit`"""

    class MSDBitForImageClassification(MSDModelMixin, transformers.BitForImageClassification):
        """image-classification, `msd-bit`"""

    class MSDBloomConfig(MSDConfigMixin, transformers.BloomConfig):
        """`msd-bloom`"""

    class MSDBloomForQuestionAnswering(MSDModelMixin, transformers.BloomForQuestionAnswering):
        """question-answering, `msd-bloom`"""

    class MSDBloomForSequenceClassification(MSDModelMixin, transformers.BloomForSequenceClassification):
        """sequence-classification, `msd-bloom`"""

    class MSDBloomForTokenClassification(MSDModelMixin, transformers.BloomForTokenClassification):
        """token-classification, `msd-bloom`"""

    class MSDBrosConfig(MSDConfigMixin, transformers.BrosConfig):
        """`msd-bros`"""

    class MSDBrosForTokenClassification(MSDModelMixin, transformers.BrosForTokenClassification):
        """token-classification, `msd-bros`"""

    class MSDCLIPConfig(MSDConfigMixin, transformers.CLIPConfig):
        """`msd-clip`"""

    class MSDCLIPForImageClassification(MSDModelMixin, transformers.CLIPForImageClassification):
        """image-classification, `msd-clip`"""

    class MSDCTRLConfig(MSDConfigMixin, transformers.CTRLConfig):
        """`msd-ctrl`"""

    class MSDCTRLForSequenceClassification(MSDModelMixin, transformers.CTRLForSequenceClassification):
        """sequence-classification, `msd-ctrl`"""

    class MSDCamembertConfig(MSDConfigMixin, transformers.CamembertConfig):
        """`msd-camembert`"""

    class MSDCamembertForMultipleChoice(MSDModelMixin, transformers.CamembertForMultipleChoice):
        """multiple-choice, `msd-camembert`"""

    class MSDCamembertForQuestionAnswering(MSDModelMixin, transformers.CamembertForQuestionAnswering):
        """question-answering, `msd-camembert`"""

    class MSDCamembertForSequenceClassification(MSDModelMixin, transformers.CamembertForSequenceClassification):
        """sequence-classification, `msd-camembert`"""

    class MSDCamembertForTokenClassification(MSDModelMixin, transformers.CamembertForTokenClassification):
        """token-classification, `msd-camembert`"""

    class MSDCanineConfig(MSDConfigMixin, transformers.CanineConfig):
        """`msd-canine`"""

    class MSDCanineForMultipleChoice(MSDModelMixin, transformers.CanineForMultipleChoice):
        """multiple-choice, `msd-canine`"""

    class MSDCanineForQuestionAnswering(MSDModelMixin, transformers.CanineForQuestionAnswering):
        """question-answering, `msd-canine`"""

    class MSDCanineForSequenceClassification(MSDModelMixin, transformers.CanineForSequenceClassification):
        """sequence-classification, `msd-canine`"""

    class MSDCanineForTokenClassification(MSDModelMixin, transformers.CanineForTokenClassification):
        """token-classification, `msd-canine`"""

    class MSDCohereCompassTextConfig(MSDConfigMixin, transformers.CohereCompassTextConfig):
        """`msd-cohere_compass_text`"""

    class MSDCohereCompassTextForSequenceClassification(
        MSDModelMixin, transformers.CohereCompassTextForSequenceClassification
    ):
        """sequence-classification, `msd-cohere_compass_text`"""

    class MSDConvBertConfig(MSDConfigMixin, transformers.ConvBertConfig):
        """`msd-convbert`"""

    class MSDConvBertForMultipleChoice(MSDModelMixin, transformers.ConvBertForMultipleChoice):
        """multiple-choice, `msd-convbert`"""

    class MSDConvBertForQuestionAnswering(MSDModelMixin, transformers.ConvBertForQuestionAnswering):
        """question-answering, `msd-convbert`"""

    class MSDConvBertForSequenceClassification(MSDModelMixin, transformers.ConvBertForSequenceClassification):
        """sequence-classification, `msd-convbert`"""

    class MSDConvBertForTokenClassification(MSDModelMixin, transformers.ConvBertForTokenClassification):
        """token-classification, `msd-convbert`"""

    class MSDConvNextConfig(MSDConfigMixin, transformers.ConvNextConfig):
        """`msd-convnext`"""

    class MSDConvNextForImageClassification(MSDModelMixin, transformers.ConvNextForImageClassification):
        """image-classification, `msd-convnext`"""

    class MSDConvNextV2Config(MSDConfigMixin, transformers.ConvNextV2Config):
        """`msd-convnextv2`"""

    class MSDConvNextV2ForImageClassification(MSDModelMixin, transformers.ConvNextV2ForImageClassification):
        """image-classification, `msd-convnextv2`"""

    class MSDCvtConfig(MSDConfigMixin, transformers.CvtConfig):
        """`msd-cvt`"""

    class MSDCvtForImageClassification(MSDModelMixin, transformers.CvtForImageClassification):
        """image-classification, `msd-cvt`"""

    class MSDData2VecAudioConfig(MSDConfigMixin, transformers.Data2VecAudioConfig):
        """`msd-data2vec-audio`"""

    class MSDData2VecAudioForSequenceClassification(
        MSDModelMixin, transformers.Data2VecAudioForSequenceClassification
    ):
        """audio-classification, `msd-data2vec-audio`"""

    class MSDData2VecTextConfig(MSDConfigMixin, transformers.Data2VecTextConfig):
        """`msd-data2vec-text`"""

    class MSDData2VecTextForMultipleChoice(MSDModelMixin, transformers.Data2VecTextForMultipleChoice):
        """multiple-choice, `msd-data2vec-text`"""

    class MSDData2VecTextForQuestionAnswering(MSDModelMixin, transformers.Data2VecTextForQuestionAnswering):
        """question-answering, `msd-data2vec-text`"""

    class MSDData2VecTextForSequenceClassification(MSDModelMixin, transformers.Data2VecTextForSequenceClassification):
        """sequence-classification, `msd-data2vec-text`"""

    class MSDData2VecTextForTokenClassification(MSDModelMixin, transformers.Data2VecTextForTokenClassification):
        """token-classification, `msd-data2vec-text`"""

    class MSDData2VecVisionConfig(MSDConfigMixin, transformers.Data2VecVisionConfig):
        """`msd-data2vec-vision`"""

    class MSDData2VecVisionForImageClassification(MSDModelMixin, transformers.Data2VecVisionForImageClassification):
        """image-classification, `msd-data2vec-vision`"""

    class MSDDebertaConfig(MSDConfigMixin, transformers.DebertaConfig):
        """`msd-deberta`"""

    class MSDDebertaForQuestionAnswering(MSDModelMixin, transformers.DebertaForQuestionAnswering):
        """question-answering, `msd-deberta`"""

    class MSDDebertaForSequenceClassification(MSDModelMixin, transformers.DebertaForSequenceClassification):
        """sequence-classification, `msd-deberta`"""

    class MSDDebertaForTokenClassification(MSDModelMixin, transformers.DebertaForTokenClassification):
        """token-classification, `msd-deberta`"""

    class MSDDebertaV2Config(MSDConfigMixin, transformers.DebertaV2Config):
        """`msd-deberta-v2`"""

    class MSDDebertaV2ForMultipleChoice(MSDModelMixin, transformers.DebertaV2ForMultipleChoice):
        """multiple-choice, `msd-deberta-v2`"""

    class MSDDebertaV2ForQuestionAnswering(MSDModelMixin, transformers.DebertaV2ForQuestionAnswering):
        """question-answering, `msd-deberta-v2`"""

    class MSDDebertaV2ForSequenceClassification(MSDModelMixin, transformers.DebertaV2ForSequenceClassification):
        """sequence-classification, `msd-deberta-v2`"""

    class MSDDebertaV2ForTokenClassification(MSDModelMixin, transformers.DebertaV2ForTokenClassification):
        """token-classification, `msd-deberta-v2`"""

    class MSDDeepseekV2Config(MSDConfigMixin, transformers.DeepseekV2Config):
        """`msd-deepseek_v2`"""

    class MSDDeepseekV2ForSequenceClassification(MSDModelMixin, transformers.DeepseekV2ForSequenceClassification):
        """sequence-classification, `msd-deepseek_v2`"""

    class MSDDeepseekV3Config(MSDConfigMixin, transformers.DeepseekV3Config):
        """`msd-deepseek_v3`"""

    class MSDDeepseekV3ForSequenceClassification(MSDModelMixin, transformers.DeepseekV3ForSequenceClassification):
        """sequence-classification, `msd-deepseek_v3`"""

    class MSDDeepseekV3ForTokenClassification(MSDModelMixin, transformers.DeepseekV3ForTokenClassification):
        """token-classification, `msd-deepseek_v3`"""

    class MSDDeiTConfig(MSDConfigMixin, transformers.DeiTConfig):
        """`msd-deit`"""

    class MSDDeiTForImageClassification(MSDModelMixin, transformers.DeiTForImageClassification):
        """image-classification, `msd-deit`"""

    class MSDDiffLlamaConfig(MSDConfigMixin, transformers.DiffLlamaConfig):
        """`msd-diffllama`"""

    class MSDDiffLlamaForQuestionAnswering(MSDModelMixin, transformers.DiffLlamaForQuestionAnswering):
        """question-answering, `msd-diffllama`"""

    class MSDDiffLlamaForSequenceClassification(MSDModelMixin, transformers.DiffLlamaForSequenceClassification):
        """sequence-classification, `msd-diffllama`"""

    class MSDDiffLlamaForTokenClassification(MSDModelMixin, transformers.DiffLlamaForTokenClassification):
        """token-classification, `msd-diffllama`"""

    class MSDDinov2Config(MSDConfigMixin, transformers.Dinov2Config):
        """`msd-dinov2`"""

    class MSDDinov2ForImageClassification(MSDModelMixin, transformers.Dinov2ForImageClassification):
        """image-classification, `msd-dinov2`"""

    class MSDDinov2WithRegistersConfig(MSDConfigMixin, transformers.Dinov2WithRegistersConfig):
        """`msd-dinov2_with_registers`"""

    class MSDDinov2WithRegistersForImageClassification(
        MSDModelMixin, transformers.Dinov2WithRegistersForImageClassification
    ):
        """image-classification, `msd-dinov2_with_registers`"""

    class MSDDistilBertConfig(MSDConfigMixin, transformers.DistilBertConfig):
        """`msd-distilbert`"""

    class MSDDistilBertForMultipleChoice(MSDModelMixin, transformers.DistilBertForMultipleChoice):
        """multiple-choice, `msd-distilbert`"""

    class MSDDistilBertForQuestionAnswering(MSDModelMixin, transformers.DistilBertForQuestionAnswering):
        """question-answering, `msd-distilbert`"""

    class MSDDistilBertForSequenceClassification(MSDModelMixin, transformers.DistilBertForSequenceClassification):
        """sequence-classification, `msd-distilbert`"""

    class MSDDistilBertForTokenClassification(MSDModelMixin, transformers.DistilBertForTokenClassification):
        """token-classification, `msd-distilbert`"""

    class MSDDogeConfig(MSDConfigMixin, transformers.DogeConfig):
        """`msd-doge`"""

    class MSDDogeForSequenceClassification(MSDModelMixin, transformers.DogeForSequenceClassification):
        """sequence-classification, `msd-doge`"""

    class MSDDonutSwinConfig(MSDConfigMixin, transformers.DonutSwinConfig):
        """`msd-donut-swin`"""

    class MSDDonutSwinForImageClassification(MSDModelMixin, transformers.DonutSwinForImageClassification):
        """image-classification, `msd-donut-swin`"""

    class MSDEfficientNetConfig(MSDConfigMixin, transformers.EfficientNetConfig):
        """`msd-efficientnet`"""

    class MSDEfficientNetForImageClassification(MSDModelMixin, transformers.EfficientNetForImageClassification):
        """image-classification, `msd-efficientnet`"""

    class MSDElectraConfig(MSDConfigMixin, transformers.ElectraConfig):
        """`msd-electra`"""

    class MSDElectraForMultipleChoice(MSDModelMixin, transformers.ElectraForMultipleChoice):
        """multiple-choice, `msd-electra`"""

    class MSDElectraForQuestionAnswering(MSDModelMixin, transformers.ElectraForQuestionAnswering):
        """question-answering, `msd-electra`"""

    class MSDElectraForSequenceClassification(MSDModelMixin, transformers.ElectraForSequenceClassification):
        """sequence-classification, `msd-electra`"""

    class MSDElectraForTokenClassification(MSDModelMixin, transformers.ElectraForTokenClassification):
        """token-classification, `msd-electra`"""

    class MSDErnieConfig(MSDConfigMixin, transformers.ErnieConfig):
        """`msd-ernie`"""

    class MSDErnieForMultipleChoice(MSDModelMixin, transformers.ErnieForMultipleChoice):
        """multiple-choice, `msd-ernie`"""

    class MSDErnieForQuestionAnswering(MSDModelMixin, transformers.ErnieForQuestionAnswering):
        """question-answering, `msd-ernie`"""

    class MSDErnieForSequenceClassification(MSDModelMixin, transformers.ErnieForSequenceClassification):
        """sequence-classification, `msd-ernie`"""

    class MSDErnieForTokenClassification(MSDModelMixin, transformers.ErnieForTokenClassification):
        """token-classification, `msd-ernie`"""

    class MSDEsmConfig(MSDConfigMixin, transformers.EsmConfig):
        """`msd-esm`"""

    class MSDEsmForSequenceClassification(MSDModelMixin, transformers.EsmForSequenceClassification):
        """sequence-classification, `msd-esm`"""

    class MSDEsmForTokenClassification(MSDModelMixin, transformers.EsmForTokenClassification):
        """token-classification, `msd-esm`"""

    class MSDEsmcConfig(MSDConfigMixin, transformers.EsmcConfig):
        """`msd-esmc`"""

    class MSDEsmcForSequenceClassification(MSDModelMixin, transformers.EsmcForSequenceClassification):
        """sequence-classification, `msd-esmc`"""

    class MSDEsmcForTokenClassification(MSDModelMixin, transformers.EsmcForTokenClassification):
        """token-classification, `msd-esmc`"""

    class MSDEuroBertConfig(MSDConfigMixin, transformers.EuroBertConfig):
        """`msd-eurobert`"""

    class MSDEuroBertForTokenClassification(MSDModelMixin, transformers.EuroBertForTokenClassification):
        """token-classification, `msd-eurobert`"""

    class MSDExaone4Config(MSDConfigMixin, transformers.Exaone4Config):
        """`msd-exaone4`"""

    class MSDExaone4ForQuestionAnswering(MSDModelMixin, transformers.Exaone4ForQuestionAnswering):
        """question-answering, `msd-exaone4`"""

    class MSDExaone4ForSequenceClassification(MSDModelMixin, transformers.Exaone4ForSequenceClassification):
        """sequence-classification, `msd-exaone4`"""

    class MSDExaone4ForTokenClassification(MSDModelMixin, transformers.Exaone4ForTokenClassification):
        """token-classification, `msd-exaone4`"""

    class MSDFNetConfig(MSDConfigMixin, transformers.FNetConfig):
        """`msd-fnet`"""

    class MSDFNetForMultipleChoice(MSDModelMixin, transformers.FNetForMultipleChoice):
        """multiple-choice, `msd-fnet`"""

    class MSDFNetForQuestionAnswering(MSDModelMixin, transformers.FNetForQuestionAnswering):
        """question-answering, `msd-fnet`"""

    class MSDFNetForSequenceClassification(MSDModelMixin, transformers.FNetForSequenceClassification):
        """sequence-classification, `msd-fnet`"""

    class MSDFNetForTokenClassification(MSDModelMixin, transformers.FNetForTokenClassification):
        """token-classification, `msd-fnet`"""

    class MSDFalconConfig(MSDConfigMixin, transformers.FalconConfig):
        """`msd-falcon`"""

    class MSDFalconForQuestionAnswering(MSDModelMixin, transformers.FalconForQuestionAnswering):
        """question-answering, `msd-falcon`"""

    class MSDFalconForSequenceClassification(MSDModelMixin, transformers.FalconForSequenceClassification):
        """sequence-classification, `msd-falcon`"""

    class MSDFalconForTokenClassification(MSDModelMixin, transformers.FalconForTokenClassification):
        """token-classification, `msd-falcon`"""

    class MSDFlaubertConfig(MSDConfigMixin, transformers.FlaubertConfig):
        """`msd-flaubert`"""

    class MSDFlaubertForMultipleChoice(MSDModelMixin, transformers.FlaubertForMultipleChoice):
        """multiple-choice, `msd-flaubert`"""

    class MSDFlaubertForQuestionAnsweringSimple(MSDModelMixin, transformers.FlaubertForQuestionAnsweringSimple):
        """question-answering, `msd-flaubert`"""

    class MSDFlaubertForSequenceClassification(MSDModelMixin, transformers.FlaubertForSequenceClassification):
        """sequence-classification, `msd-flaubert`"""

    class MSDFlaubertForTokenClassification(MSDModelMixin, transformers.FlaubertForTokenClassification):
        """token-classification, `msd-flaubert`"""

    class MSDFocalNetConfig(MSDConfigMixin, transformers.FocalNetConfig):
        """`msd-focalnet`"""

    class MSDFocalNetForImageClassification(MSDModelMixin, transformers.FocalNetForImageClassification):
        """image-classification, `msd-focalnet`"""

    class MSDFunnelConfig(MSDConfigMixin, transformers.FunnelConfig):
        """`msd-funnel`"""

    class MSDFunnelForMultipleChoice(MSDModelMixin, transformers.FunnelForMultipleChoice):
        """multiple-choice, `msd-funnel`"""

    class MSDFunnelForQuestionAnswering(MSDModelMixin, transformers.FunnelForQuestionAnswering):
        """question-answering, `msd-funnel`"""

    class MSDFunnelForSequenceClassification(MSDModelMixin, transformers.FunnelForSequenceClassification):
        """sequence-classification, `msd-funnel`"""

    class MSDFunnelForTokenClassification(MSDModelMixin, transformers.FunnelForTokenClassification):
        """token-classification, `msd-funnel`"""

    class MSDGPT2Config(MSDConfigMixin, transformers.GPT2Config):
        """`msd-gpt2`"""

    class MSDGPT2ForQuestionAnswering(MSDModelMixin, transformers.GPT2ForQuestionAnswering):
        """question-answering, `msd-gpt2`"""

    class MSDGPT2ForSequenceClassification(MSDModelMixin, transformers.GPT2ForSequenceClassification):
        """sequence-classification, `msd-gpt2`"""

    class MSDGPT2ForTokenClassification(MSDModelMixin, transformers.GPT2ForTokenClassification):
        """token-classification, `msd-gpt2`"""

    class MSDGPTBigCodeConfig(MSDConfigMixin, transformers.GPTBigCodeConfig):
        """`msd-gpt_bigcode`"""

    class MSDGPTBigCodeForSequenceClassification(MSDModelMixin, transformers.GPTBigCodeForSequenceClassification):
        """sequence-classification, `msd-gpt_bigcode`"""

    class MSDGPTBigCodeForTokenClassification(MSDModelMixin, transformers.GPTBigCodeForTokenClassification):
        """token-classification, `msd-gpt_bigcode`"""

    class MSDGPTJConfig(MSDConfigMixin, transformers.GPTJConfig):
        """`msd-gptj`"""

    class MSDGPTJForQuestionAnswering(MSDModelMixin, transformers.GPTJForQuestionAnswering):
        """question-answering, `msd-gptj`"""

    class MSDGPTJForSequenceClassification(MSDModelMixin, transformers.GPTJForSequenceClassification):
        """sequence-classification, `msd-gptj`"""

    class MSDGPTNeoConfig(MSDConfigMixin, transformers.GPTNeoConfig):
        """`msd-gpt_neo`"""

    class MSDGPTNeoForQuestionAnswering(MSDModelMixin, transformers.GPTNeoForQuestionAnswering):
        """question-answering, `msd-gpt_neo`"""

    class MSDGPTNeoForSequenceClassification(MSDModelMixin, transformers.GPTNeoForSequenceClassification):
        """sequence-classification, `msd-gpt_neo`"""

    class MSDGPTNeoForTokenClassification(MSDModelMixin, transformers.GPTNeoForTokenClassification):
        """token-classification, `msd-gpt_neo`"""

    class MSDGPTNeoXConfig(MSDConfigMixin, transformers.GPTNeoXConfig):
        """`msd-gpt_neox`"""

    class MSDGPTNeoXForQuestionAnswering(MSDModelMixin, transformers.GPTNeoXForQuestionAnswering):
        """question-answering, `msd-gpt_neox`"""

    class MSDGPTNeoXForSequenceClassification(MSDModelMixin, transformers.GPTNeoXForSequenceClassification):
        """sequence-classification, `msd-gpt_neox`"""

    class MSDGPTNeoXForTokenClassification(MSDModelMixin, transformers.GPTNeoXForTokenClassification):
        """token-classification, `msd-gpt_neox`"""

    class MSDGemma2Config(MSDConfigMixin, transformers.Gemma2Config):
        """`msd-gemma2`"""

    class MSDGemma2ForSequenceClassification(MSDModelMixin, transformers.Gemma2ForSequenceClassification):
        """sequence-classification, `msd-gemma2`"""

    class MSDGemma2ForTokenClassification(MSDModelMixin, transformers.Gemma2ForTokenClassification):
        """token-classification, `msd-gemma2`"""

    class MSDGemma3Config(MSDConfigMixin, transformers.Gemma3Config):
        """`msd-gemma3`"""

    class MSDGemma3ForSequenceClassification(MSDModelMixin, transformers.Gemma3ForSequenceClassification):
        """sequence-classification, `msd-gemma3`"""

    class MSDGemma3TextConfig(MSDConfigMixin, transformers.Gemma3TextConfig):
        """`msd-gemma3_text`"""

    class MSDGemma3TextForSequenceClassification(MSDModelMixin, transformers.Gemma3TextForSequenceClassification):
        """sequence-classification, `msd-gemma3_text`"""

    class MSDGemmaConfig(MSDConfigMixin, transformers.GemmaConfig):
        """`msd-gemma`"""

    class MSDGemmaForSequenceClassification(MSDModelMixin, transformers.GemmaForSequenceClassification):
        """sequence-classification, `msd-gemma`"""

    class MSDGemmaForTokenClassification(MSDModelMixin, transformers.GemmaForTokenClassification):
        """token-classification, `msd-gemma`"""

    class MSDGlm4Config(MSDConfigMixin, transformers.Glm4Config):
        """`msd-glm4`"""

    class MSDGlm4ForSequenceClassification(MSDModelMixin, transformers.Glm4ForSequenceClassification):
        """sequence-classification, `msd-glm4`"""

    class MSDGlm4ForTokenClassification(MSDModelMixin, transformers.Glm4ForTokenClassification):
        """token-classification, `msd-glm4`"""

    class MSDGlmConfig(MSDConfigMixin, transformers.GlmConfig):
        """`msd-glm`"""

    class MSDGlmForSequenceClassification(MSDModelMixin, transformers.GlmForSequenceClassification):
        """sequence-classification, `msd-glm`"""

    class MSDGlmForTokenClassification(MSDModelMixin, transformers.GlmForTokenClassification):
        """token-classification, `msd-glm`"""

    class MSDGptOssConfig(MSDConfigMixin, transformers.GptOssConfig):
        """`msd-gpt_oss`"""

    class MSDGptOssForSequenceClassification(MSDModelMixin, transformers.GptOssForSequenceClassification):
        """sequence-classification, `msd-gpt_oss`"""

    class MSDGptOssForTokenClassification(MSDModelMixin, transformers.GptOssForTokenClassification):
        """token-classification, `msd-gpt_oss`"""

    class MSDGteConfig(MSDConfigMixin, transformers.GteConfig):
        """`msd-gte`"""

    class MSDGteForSequenceClassification(MSDModelMixin, transformers.GteForSequenceClassification):
        """sequence-classification, `msd-gte`"""

    class MSDGteForTokenClassification(MSDModelMixin, transformers.GteForTokenClassification):
        """token-classification, `msd-gte`"""

    class MSDHGNetV2Config(MSDConfigMixin, transformers.HGNetV2Config):
        """`msd-hgnet_v2`"""

    class MSDHGNetV2ForImageClassification(MSDModelMixin, transformers.HGNetV2ForImageClassification):
        """image-classification, `msd-hgnet_v2`"""

    class MSDHeliumConfig(MSDConfigMixin, transformers.HeliumConfig):
        """`msd-helium`"""

    class MSDHeliumForSequenceClassification(MSDModelMixin, transformers.HeliumForSequenceClassification):
        """sequence-classification, `msd-helium`"""

    class MSDHeliumForTokenClassification(MSDModelMixin, transformers.HeliumForTokenClassification):
        """token-classification, `msd-helium`"""

    class MSDHieraConfig(MSDConfigMixin, transformers.HieraConfig):
        """`msd-hiera`"""

    class MSDHieraForImageClassification(MSDModelMixin, transformers.HieraForImageClassification):
        """image-classification, `msd-hiera`"""

    class MSDHubertConfig(MSDConfigMixin, transformers.HubertConfig):
        """`msd-hubert`"""

    class MSDHubertForSequenceClassification(MSDModelMixin, transformers.HubertForSequenceClassification):
        """audio-classification, `msd-hubert`"""

    class MSDHunYuanDenseV1Config(MSDConfigMixin, transformers.HunYuanDenseV1Config):
        """`msd-hunyuan_v1_dense`"""

    class MSDHunYuanDenseV1ForSequenceClassification(
        MSDModelMixin, transformers.HunYuanDenseV1ForSequenceClassification
    ):
        """sequence-classification, `msd-hunyuan_v1_dense`"""

    class MSDHunYuanMoEV1Config(MSDConfigMixin, transformers.HunYuanMoEV1Config):
        """`msd-hunyuan_v1_moe`"""

    class MSDHunYuanMoEV1ForSequenceClassification(MSDModelMixin, transformers.HunYuanMoEV1ForSequenceClassification):
        """sequence-classification, `msd-hunyuan_v1_moe`"""

    class MSDIBertConfig(MSDConfigMixin, transformers.IBertConfig):
        """`msd-ibert`"""

    class MSDIBertForMultipleChoice(MSDModelMixin, transformers.IBertForMultipleChoice):
        """multiple-choice, `msd-ibert`"""

    class MSDIBertForQuestionAnswering(MSDModelMixin, transformers.IBertForQuestionAnswering):
        """question-answering, `msd-ibert`"""

    class MSDIBertForSequenceClassification(MSDModelMixin, transformers.IBertForSequenceClassification):
        """sequence-classification, `msd-ibert`"""

    class MSDIBertForTokenClassification(MSDModelMixin, transformers.IBertForTokenClassification):
        """token-classification, `msd-ibert`"""

    class MSDIJepaConfig(MSDConfigMixin, transformers.IJepaConfig):
        """`msd-ijepa`"""

    class MSDIJepaForImageClassification(MSDModelMixin, transformers.IJepaForImageClassification):
        """image-classification, `msd-ijepa`"""

    class MSDImageGPTConfig(MSDConfigMixin, transformers.ImageGPTConfig):
        """`msd-imagegpt`"""

    class MSDImageGPTForImageClassification(MSDModelMixin, transformers.ImageGPTForImageClassification):
        """image-classification, `msd-imagegpt`"""

    class MSDJambaConfig(MSDConfigMixin, transformers.JambaConfig):
        """`msd-jamba`"""

    class MSDJambaForSequenceClassification(MSDModelMixin, transformers.JambaForSequenceClassification):
        """sequence-classification, `msd-jamba`"""

    class MSDJetMoeConfig(MSDConfigMixin, transformers.JetMoeConfig):
        """`msd-jetmoe`"""

    class MSDJetMoeForSequenceClassification(MSDModelMixin, transformers.JetMoeForSequenceClassification):
        """sequence-classification, `msd-jetmoe`"""

    class MSDJinaEmbeddingsV3Config(MSDConfigMixin, transformers.JinaEmbeddingsV3Config):
        """`msd-jina_embeddings_v3`"""

    class MSDJinaEmbeddingsV3ForQuestionAnswering(MSDModelMixin, transformers.JinaEmbeddingsV3ForQuestionAnswering):
        """question-answering, `msd-jina_embeddings_v3`"""

    class MSDJinaEmbeddingsV3ForSequenceClassification(
        MSDModelMixin, transformers.JinaEmbeddingsV3ForSequenceClassification
    ):
        """sequence-classification, `msd-jina_embeddings_v3`"""

    class MSDJinaEmbeddingsV3ForTokenClassification(
        MSDModelMixin, transformers.JinaEmbeddingsV3ForTokenClassification
    ):
        """token-classification, `msd-jina_embeddings_v3`"""

    class MSDLEDConfig(MSDConfigMixin, transformers.LEDConfig):
        """`msd-led`"""

    class MSDLEDForQuestionAnswering(MSDModelMixin, transformers.LEDForQuestionAnswering):
        """question-answering, `msd-led`"""

    class MSDLayoutLMConfig(MSDConfigMixin, transformers.LayoutLMConfig):
        """`msd-layoutlm`"""

    class MSDLayoutLMForSequenceClassification(MSDModelMixin, transformers.LayoutLMForSequenceClassification):
        """sequence-classification, `msd-layoutlm`"""

    class MSDLayoutLMForTokenClassification(MSDModelMixin, transformers.LayoutLMForTokenClassification):
        """token-classification, `msd-layoutlm`"""

    class MSDLayoutLMv3Config(MSDConfigMixin, transformers.LayoutLMv3Config):
        """`msd-layoutlmv3`"""

    class MSDLayoutLMv3ForQuestionAnswering(MSDModelMixin, transformers.LayoutLMv3ForQuestionAnswering):
        """question-answering, `msd-layoutlmv3`"""

    class MSDLayoutLMv3ForSequenceClassification(MSDModelMixin, transformers.LayoutLMv3ForSequenceClassification):
        """sequence-classification, `msd-layoutlmv3`"""

    class MSDLayoutLMv3ForTokenClassification(MSDModelMixin, transformers.LayoutLMv3ForTokenClassification):
        """token-classification, `msd-layoutlmv3`"""

    class MSDLevitConfig(MSDConfigMixin, transformers.LevitConfig):
        """`msd-levit`"""

    class MSDLevitForImageClassification(MSDModelMixin, transformers.LevitForImageClassification):
        """image-classification, `msd-levit`"""

    class MSDLiltConfig(MSDConfigMixin, transformers.LiltConfig):
        """`msd-lilt`"""

    class MSDLiltForQuestionAnswering(MSDModelMixin, transformers.LiltForQuestionAnswering):
        """question-answering, `msd-lilt`"""

    class MSDLiltForSequenceClassification(MSDModelMixin, transformers.LiltForSequenceClassification):
        """sequence-classification, `msd-lilt`"""

    class MSDLiltForTokenClassification(MSDModelMixin, transformers.LiltForTokenClassification):
        """token-classification, `msd-lilt`"""

    class MSDLlamaConfig(MSDConfigMixin, transformers.LlamaConfig):
        """`msd-llama`"""

    class MSDLlamaForQuestionAnswering(MSDModelMixin, transformers.LlamaForQuestionAnswering):
        """question-answering, `msd-llama`"""

    class MSDLlamaForSequenceClassification(MSDModelMixin, transformers.LlamaForSequenceClassification):
        """sequence-classification, `msd-llama`"""

    class MSDLlamaForTokenClassification(MSDModelMixin, transformers.LlamaForTokenClassification):
        """token-classification, `msd-llama`"""

    class MSDLongformerConfig(MSDConfigMixin, transformers.LongformerConfig):
        """`msd-longformer`"""

    class MSDLongformerForMultipleChoice(MSDModelMixin, transformers.LongformerForMultipleChoice):
        """multiple-choice, `msd-longformer`"""

    class MSDLongformerForQuestionAnswering(MSDModelMixin, transformers.LongformerForQuestionAnswering):
        """question-answering, `msd-longformer`"""

    class MSDLongformerForSequenceClassification(MSDModelMixin, transformers.LongformerForSequenceClassification):
        """sequence-classification, `msd-longformer`"""

    class MSDLongformerForTokenClassification(MSDModelMixin, transformers.LongformerForTokenClassification):
        """token-classification, `msd-longformer`"""

    class MSDLukeConfig(MSDConfigMixin, transformers.LukeConfig):
        """`msd-luke`"""

    class MSDLukeForMultipleChoice(MSDModelMixin, transformers.LukeForMultipleChoice):
        """multiple-choice, `msd-luke`"""

    class MSDLukeForQuestionAnswering(MSDModelMixin, transformers.LukeForQuestionAnswering):
        """question-answering, `msd-luke`"""

    class MSDLukeForSequenceClassification(MSDModelMixin, transformers.LukeForSequenceClassification):
        """sequence-classification, `msd-luke`"""

    class MSDLukeForTokenClassification(MSDModelMixin, transformers.LukeForTokenClassification):
        """token-classification, `msd-luke`"""

    class MSDMBartConfig(MSDConfigMixin, transformers.MBartConfig):
        """`msd-mbart`"""

    class MSDMBartForQuestionAnswering(MSDModelMixin, transformers.MBartForQuestionAnswering):
        """question-answering, `msd-mbart`"""

    class MSDMBartForSequenceClassification(MSDModelMixin, transformers.MBartForSequenceClassification):
        """sequence-classification, `msd-mbart`"""

    class MSDMPNetConfig(MSDConfigMixin, transformers.MPNetConfig):
        """`msd-mpnet`"""

    class MSDMPNetForMultipleChoice(MSDModelMixin, transformers.MPNetForMultipleChoice):
        """multiple-choice, `msd-mpnet`"""

    class MSDMPNetForQuestionAnswering(MSDModelMixin, transformers.MPNetForQuestionAnswering):
        """question-answering, `msd-mpnet`"""

    class MSDMPNetForSequenceClassification(MSDModelMixin, transformers.MPNetForSequenceClassification):
        """sequence-classification, `msd-mpnet`"""

    class MSDMPNetForTokenClassification(MSDModelMixin, transformers.MPNetForTokenClassification):
        """token-classification, `msd-mpnet`"""

    class MSDMT5Config(MSDConfigMixin, transformers.MT5Config):
        """`msd-mt5`"""

    class MSDMT5ForQuestionAnswering(MSDModelMixin, transformers.MT5ForQuestionAnswering):
        """question-answering, `msd-mt5`"""

    class MSDMT5ForSequenceClassification(MSDModelMixin, transformers.MT5ForSequenceClassification):
        """sequence-classification, `msd-mt5`"""

    class MSDMT5ForTokenClassification(MSDModelMixin, transformers.MT5ForTokenClassification):
        """token-classification, `msd-mt5`"""

    class MSDMarkupLMConfig(MSDConfigMixin, transformers.MarkupLMConfig):
        """`msd-markuplm`"""

    class MSDMarkupLMForQuestionAnswering(MSDModelMixin, transformers.MarkupLMForQuestionAnswering):
        """question-answering, `msd-markuplm`"""

    class MSDMarkupLMForSequenceClassification(MSDModelMixin, transformers.MarkupLMForSequenceClassification):
        """sequence-classification, `msd-markuplm`"""

    class MSDMarkupLMForTokenClassification(MSDModelMixin, transformers.MarkupLMForTokenClassification):
        """token-classification, `msd-markuplm`"""

    class MSDMegatronBertConfig(MSDConfigMixin, transformers.MegatronBertConfig):
        """`msd-megatron-bert`"""

    class MSDMegatronBertForMultipleChoice(MSDModelMixin, transformers.MegatronBertForMultipleChoice):
        """multiple-choice, `msd-megatron-bert`"""

    class MSDMegatronBertForQuestionAnswering(MSDModelMixin, transformers.MegatronBertForQuestionAnswering):
        """question-answering, `msd-megatron-bert`"""

    class MSDMegatronBertForSequenceClassification(MSDModelMixin, transformers.MegatronBertForSequenceClassification):
        """sequence-classification, `msd-megatron-bert`"""

    class MSDMegatronBertForTokenClassification(MSDModelMixin, transformers.MegatronBertForTokenClassification):
        """token-classification, `msd-megatron-bert`"""

    class MSDMetaClip2Config(MSDConfigMixin, transformers.MetaClip2Config):
        """`msd-metaclip_2`"""

    class MSDMetaClip2ForImageClassification(MSDModelMixin, transformers.MetaClip2ForImageClassification):
        """image-classification, `msd-metaclip_2`"""

    class MSDMiniCPM3Config(MSDConfigMixin, transformers.MiniCPM3Config):
        """`msd-minicpm3`"""

    class MSDMiniCPM3ForSequenceClassification(MSDModelMixin, transformers.MiniCPM3ForSequenceClassification):
        """sequence-classification, `msd-minicpm3`"""

    class MSDMiniMaxConfig(MSDConfigMixin, transformers.MiniMaxConfig):
        """`msd-minimax`"""

    class MSDMiniMaxForQuestionAnswering(MSDModelMixin, transformers.MiniMaxForQuestionAnswering):
        """question-answering, `msd-minimax`"""

    class MSDMiniMaxForSequenceClassification(MSDModelMixin, transformers.MiniMaxForSequenceClassification):
        """sequence-classification, `msd-minimax`"""

    class MSDMiniMaxForTokenClassification(MSDModelMixin, transformers.MiniMaxForTokenClassification):
        """token-classification, `msd-minimax`"""

    class MSDMinistral3Config(MSDConfigMixin, transformers.Ministral3Config):
        """`msd-ministral3`"""

    class MSDMinistral3ForQuestionAnswering(MSDModelMixin, transformers.Ministral3ForQuestionAnswering):
        """question-answering, `msd-ministral3`"""

    class MSDMinistral3ForSequenceClassification(MSDModelMixin, transformers.Ministral3ForSequenceClassification):
        """sequence-classification, `msd-ministral3`"""

    class MSDMinistral3ForTokenClassification(MSDModelMixin, transformers.Ministral3ForTokenClassification):
        """token-classification, `msd-ministral3`"""

    class MSDMinistralConfig(MSDConfigMixin, transformers.MinistralConfig):
        """`msd-ministral`"""

    class MSDMinistralForQuestionAnswering(MSDModelMixin, transformers.MinistralForQuestionAnswering):
        """question-answering, `msd-ministral`"""

    class MSDMinistralForSequenceClassification(MSDModelMixin, transformers.MinistralForSequenceClassification):
        """sequence-classification, `msd-ministral`"""

    class MSDMinistralForTokenClassification(MSDModelMixin, transformers.MinistralForTokenClassification):
        """token-classification, `msd-ministral`"""

    class MSDMistral4Config(MSDConfigMixin, transformers.Mistral4Config):
        """`msd-mistral4`"""

    class MSDMistral4ForSequenceClassification(MSDModelMixin, transformers.Mistral4ForSequenceClassification):
        """sequence-classification, `msd-mistral4`"""

    class MSDMistral4ForTokenClassification(MSDModelMixin, transformers.Mistral4ForTokenClassification):
        """token-classification, `msd-mistral4`"""

    class MSDMistralConfig(MSDConfigMixin, transformers.MistralConfig):
        """`msd-mistral`"""

    class MSDMistralForQuestionAnswering(MSDModelMixin, transformers.MistralForQuestionAnswering):
        """question-answering, `msd-mistral`"""

    class MSDMistralForSequenceClassification(MSDModelMixin, transformers.MistralForSequenceClassification):
        """sequence-classification, `msd-mistral`"""

    class MSDMistralForTokenClassification(MSDModelMixin, transformers.MistralForTokenClassification):
        """token-classification, `msd-mistral`"""

    class MSDMixtralConfig(MSDConfigMixin, transformers.MixtralConfig):
        """`msd-mixtral`"""

    class MSDMixtralForQuestionAnswering(MSDModelMixin, transformers.MixtralForQuestionAnswering):
        """question-answering, `msd-mixtral`"""

    class MSDMixtralForSequenceClassification(MSDModelMixin, transformers.MixtralForSequenceClassification):
        """sequence-classification, `msd-mixtral`"""

    class MSDMixtralForTokenClassification(MSDModelMixin, transformers.MixtralForTokenClassification):
        """token-classification, `msd-mixtral`"""

    class MSDMobileBertConfig(MSDConfigMixin, transformers.MobileBertConfig):
        """`msd-mobilebert`"""

    class MSDMobileBertForMultipleChoice(MSDModelMixin, transformers.MobileBertForMultipleChoice):
        """multiple-choice, `msd-mobilebert`"""

    class MSDMobileBertForQuestionAnswering(MSDModelMixin, transformers.MobileBertForQuestionAnswering):
        """question-answering, `msd-mobilebert`"""

    class MSDMobileBertForSequenceClassification(MSDModelMixin, transformers.MobileBertForSequenceClassification):
        """sequence-classification, `msd-mobilebert`"""

    class MSDMobileBertForTokenClassification(MSDModelMixin, transformers.MobileBertForTokenClassification):
        """token-classification, `msd-mobilebert`"""

    class MSDMobileNetV1Config(MSDConfigMixin, transformers.MobileNetV1Config):
        """`msd-mobilenet_v1`"""

    class MSDMobileNetV1ForImageClassification(MSDModelMixin, transformers.MobileNetV1ForImageClassification):
        """image-classification, `msd-mobilenet_v1`"""

    class MSDMobileNetV2Config(MSDConfigMixin, transformers.MobileNetV2Config):
        """`msd-mobilenet_v2`"""

    class MSDMobileNetV2ForImageClassification(MSDModelMixin, transformers.MobileNetV2ForImageClassification):
        """image-classification, `msd-mobilenet_v2`"""

    class MSDMobileViTConfig(MSDConfigMixin, transformers.MobileViTConfig):
        """`msd-mobilevit`"""

    class MSDMobileViTForImageClassification(MSDModelMixin, transformers.MobileViTForImageClassification):
        """image-classification, `msd-mobilevit`"""

    class MSDMobileViTV2Config(MSDConfigMixin, transformers.MobileViTV2Config):
        """`msd-mobilevitv2`"""

    class MSDMobileViTV2ForImageClassification(MSDModelMixin, transformers.MobileViTV2ForImageClassification):
        """image-classification, `msd-mobilevitv2`"""

    class MSDModernBertConfig(MSDConfigMixin, transformers.ModernBertConfig):
        """`msd-modernbert`"""

    class MSDModernBertDecoderConfig(MSDConfigMixin, transformers.ModernBertDecoderConfig):
        """`msd-modernbert-decoder`"""

    class MSDModernBertDecoderForSequenceClassification(
        MSDModelMixin, transformers.ModernBertDecoderForSequenceClassification
    ):
        """sequence-classification, `msd-modernbert-decoder`"""

    class MSDModernBertForMultipleChoice(MSDModelMixin, transformers.ModernBertForMultipleChoice):
        """multiple-choice, `msd-modernbert`"""

    class MSDModernBertForQuestionAnswering(MSDModelMixin, transformers.ModernBertForQuestionAnswering):
        """question-answering, `msd-modernbert`"""

    class MSDModernBertForSequenceClassification(MSDModelMixin, transformers.ModernBertForSequenceClassification):
        """sequence-classification, `msd-modernbert`"""

    class MSDModernBertForTokenClassification(MSDModelMixin, transformers.ModernBertForTokenClassification):
        """token-classification, `msd-modernbert`"""

    class MSDModernVBertConfig(MSDConfigMixin, transformers.ModernVBertConfig):
        """`msd-modernvbert`"""

    class MSDModernVBertForSequenceClassification(MSDModelMixin, transformers.ModernVBertForSequenceClassification):
        """sequence-classification, `msd-modernvbert`"""

    class MSDModernVBertForTokenClassification(MSDModelMixin, transformers.ModernVBertForTokenClassification):
        """token-classification, `msd-modernvbert`"""

    class MSDMptConfig(MSDConfigMixin, transformers.MptConfig):
        """`msd-mpt`"""

    class MSDMptForQuestionAnswering(MSDModelMixin, transformers.MptForQuestionAnswering):
        """question-answering, `msd-mpt`"""

    class MSDMptForSequenceClassification(MSDModelMixin, transformers.MptForSequenceClassification):
        """sequence-classification, `msd-mpt`"""

    class MSDMptForTokenClassification(MSDModelMixin, transformers.MptForTokenClassification):
        """token-classification, `msd-mpt`"""

    class MSDMraConfig(MSDConfigMixin, transformers.MraConfig):
        """`msd-mra`"""

    class MSDMraForMultipleChoice(MSDModelMixin, transformers.MraForMultipleChoice):
        """multiple-choice, `msd-mra`"""

    class MSDMraForQuestionAnswering(MSDModelMixin, transformers.MraForQuestionAnswering):
        """question-answering, `msd-mra`"""

    class MSDMraForSequenceClassification(MSDModelMixin, transformers.MraForSequenceClassification):
        """sequence-classification, `msd-mra`"""

    class MSDMraForTokenClassification(MSDModelMixin, transformers.MraForTokenClassification):
        """token-classification, `msd-mra`"""

    class MSDMvpConfig(MSDConfigMixin, transformers.MvpConfig):
        """`msd-mvp`"""

    class MSDMvpForQuestionAnswering(MSDModelMixin, transformers.MvpForQuestionAnswering):
        """question-answering, `msd-mvp`"""

    class MSDMvpForSequenceClassification(MSDModelMixin, transformers.MvpForSequenceClassification):
        """sequence-classification, `msd-mvp`"""

    class MSDNemotronConfig(MSDConfigMixin, transformers.NemotronConfig):
        """`msd-nemotron`"""

    class MSDNemotronForQuestionAnswering(MSDModelMixin, transformers.NemotronForQuestionAnswering):
        """question-answering, `msd-nemotron`"""

    class MSDNemotronForSequenceClassification(MSDModelMixin, transformers.NemotronForSequenceClassification):
        """sequence-classification, `msd-nemotron`"""

    class MSDNemotronForTokenClassification(MSDModelMixin, transformers.NemotronForTokenClassification):
        """token-classification, `msd-nemotron`"""

    class MSDNomicBertConfig(MSDConfigMixin, transformers.NomicBertConfig):
        """`msd-nomic_bert`"""

    class MSDNomicBertForSequenceClassification(MSDModelMixin, transformers.NomicBertForSequenceClassification):
        """sequence-classification, `msd-nomic_bert`"""

    class MSDNomicBertForTokenClassification(MSDModelMixin, transformers.NomicBertForTokenClassification):
        """token-classification, `msd-nomic_bert`"""

    class MSDNystromformerConfig(MSDConfigMixin, transformers.NystromformerConfig):
        """`msd-nystromformer`"""

    class MSDNystromformerForMultipleChoice(MSDModelMixin, transformers.NystromformerForMultipleChoice):
        """multiple-choice, `msd-nystromformer`"""

    class MSDNystromformerForQuestionAnswering(MSDModelMixin, transformers.NystromformerForQuestionAnswering):
        """question-answering, `msd-nystromformer`"""

    class MSDNystromformerForSequenceClassification(
        MSDModelMixin, transformers.NystromformerForSequenceClassification
    ):
        """sequence-classification, `msd-nystromformer`"""

    class MSDNystromformerForTokenClassification(MSDModelMixin, transformers.NystromformerForTokenClassification):
        """token-classification, `msd-nystromformer`"""

    class MSDOPTConfig(MSDConfigMixin, transformers.OPTConfig):
        """`msd-opt`"""

    class MSDOPTForQuestionAnswering(MSDModelMixin, transformers.OPTForQuestionAnswering):
        """question-answering, `msd-opt`"""

    class MSDOPTForSequenceClassification(MSDModelMixin, transformers.OPTForSequenceClassification):
        """sequence-classification, `msd-opt`"""

    class MSDOlmo2Config(MSDConfigMixin, transformers.Olmo2Config):
        """`msd-olmo2`"""

    class MSDOlmo2ForSequenceClassification(MSDModelMixin, transformers.Olmo2ForSequenceClassification):
        """sequence-classification, `msd-olmo2`"""

    class MSDOlmo3Config(MSDConfigMixin, transformers.Olmo3Config):
        """`msd-olmo3`"""

    class MSDOlmo3ForSequenceClassification(MSDModelMixin, transformers.Olmo3ForSequenceClassification):
        """sequence-classification, `msd-olmo3`"""

    class MSDOlmoConfig(MSDConfigMixin, transformers.OlmoConfig):
        """`msd-olmo`"""

    class MSDOlmoForSequenceClassification(MSDModelMixin, transformers.OlmoForSequenceClassification):
        """sequence-classification, `msd-olmo`"""

    class MSDOpenAIGPTConfig(MSDConfigMixin, transformers.OpenAIGPTConfig):
        """`msd-openai-gpt`"""

    class MSDOpenAIGPTForSequenceClassification(MSDModelMixin, transformers.OpenAIGPTForSequenceClassification):
        """sequence-classification, `msd-openai-gpt`"""

    class MSDOpenAIPrivacyFilterConfig(MSDConfigMixin, transformers.OpenAIPrivacyFilterConfig):
        """`msd-openai_privacy_filter`"""

    class MSDOpenAIPrivacyFilterForTokenClassification(
        MSDModelMixin, transformers.OpenAIPrivacyFilterForTokenClassification
    ):
        """token-classification, `msd-openai_privacy_filter`"""

    class MSDPLBartConfig(MSDConfigMixin, transformers.PLBartConfig):
        """`msd-plbart`"""

    class MSDPLBartForSequenceClassification(MSDModelMixin, transformers.PLBartForSequenceClassification):
        """sequence-classification, `msd-plbart`"""

    class MSDPersimmonConfig(MSDConfigMixin, transformers.PersimmonConfig):
        """`msd-persimmon`"""

    class MSDPersimmonForSequenceClassification(MSDModelMixin, transformers.PersimmonForSequenceClassification):
        """sequence-classification, `msd-persimmon`"""

    class MSDPersimmonForTokenClassification(MSDModelMixin, transformers.PersimmonForTokenClassification):
        """token-classification, `msd-persimmon`"""

    class MSDPhi3Config(MSDConfigMixin, transformers.Phi3Config):
        """`msd-phi3`"""

    class MSDPhi3ForSequenceClassification(MSDModelMixin, transformers.Phi3ForSequenceClassification):
        """sequence-classification, `msd-phi3`"""

    class MSDPhi3ForTokenClassification(MSDModelMixin, transformers.Phi3ForTokenClassification):
        """token-classification, `msd-phi3`"""

    class MSDPhiConfig(MSDConfigMixin, transformers.PhiConfig):
        """`msd-phi`"""

    class MSDPhiForSequenceClassification(MSDModelMixin, transformers.PhiForSequenceClassification):
        """sequence-classification, `msd-phi`"""

    class MSDPhiForTokenClassification(MSDModelMixin, transformers.PhiForTokenClassification):
        """token-classification, `msd-phi`"""

    class MSDPhimoeConfig(MSDConfigMixin, transformers.PhimoeConfig):
        """`msd-phimoe`"""

    class MSDPhimoeForSequenceClassification(MSDModelMixin, transformers.PhimoeForSequenceClassification):
        """sequence-classification, `msd-phimoe`"""

    class MSDPoolFormerConfig(MSDConfigMixin, transformers.PoolFormerConfig):
        """`msd-poolformer`"""

    class MSDPoolFormerForImageClassification(MSDModelMixin, transformers.PoolFormerForImageClassification):
        """image-classification, `msd-poolformer`"""

    class MSDPvtConfig(MSDConfigMixin, transformers.PvtConfig):
        """`msd-pvt`"""

    class MSDPvtForImageClassification(MSDModelMixin, transformers.PvtForImageClassification):
        """image-classification, `msd-pvt`"""

    class MSDPvtV2Config(MSDConfigMixin, transformers.PvtV2Config):
        """`msd-pvt_v2`"""

    class MSDPvtV2ForImageClassification(MSDModelMixin, transformers.PvtV2ForImageClassification):
        """image-classification, `msd-pvt_v2`"""

    class MSDQwen2Config(MSDConfigMixin, transformers.Qwen2Config):
        """`msd-qwen2`"""

    class MSDQwen2ForQuestionAnswering(MSDModelMixin, transformers.Qwen2ForQuestionAnswering):
        """question-answering, `msd-qwen2`"""

    class MSDQwen2ForSequenceClassification(MSDModelMixin, transformers.Qwen2ForSequenceClassification):
        """sequence-classification, `msd-qwen2`"""

    class MSDQwen2ForTokenClassification(MSDModelMixin, transformers.Qwen2ForTokenClassification):
        """token-classification, `msd-qwen2`"""

    class MSDQwen2MoeConfig(MSDConfigMixin, transformers.Qwen2MoeConfig):
        """`msd-qwen2_moe`"""

    class MSDQwen2MoeForQuestionAnswering(MSDModelMixin, transformers.Qwen2MoeForQuestionAnswering):
        """question-answering, `msd-qwen2_moe`"""

    class MSDQwen2MoeForSequenceClassification(MSDModelMixin, transformers.Qwen2MoeForSequenceClassification):
        """sequence-classification, `msd-qwen2_moe`"""

    class MSDQwen2MoeForTokenClassification(MSDModelMixin, transformers.Qwen2MoeForTokenClassification):
        """token-classification, `msd-qwen2_moe`"""

    class MSDQwen3ASRConfig(MSDConfigMixin, transformers.Qwen3ASRConfig):
        """`msd-qwen3_asr`"""

    class MSDQwen3ASRForTokenClassification(MSDModelMixin, transformers.Qwen3ASRForTokenClassification):
        """token-classification, `msd-qwen3_asr`"""

    class MSDQwen3Config(MSDConfigMixin, transformers.Qwen3Config):
        """`msd-qwen3`"""

    class MSDQwen3ForQuestionAnswering(MSDModelMixin, transformers.Qwen3ForQuestionAnswering):
        """question-answering, `msd-qwen3`"""

    class MSDQwen3ForSequenceClassification(MSDModelMixin, transformers.Qwen3ForSequenceClassification):
        """sequence-classification, `msd-qwen3`"""

    class MSDQwen3ForTokenClassification(MSDModelMixin, transformers.Qwen3ForTokenClassification):
        """token-classification, `msd-qwen3`"""

    class MSDQwen3MoeConfig(MSDConfigMixin, transformers.Qwen3MoeConfig):
        """`msd-qwen3_moe`"""

    class MSDQwen3MoeForQuestionAnswering(MSDModelMixin, transformers.Qwen3MoeForQuestionAnswering):
        """question-answering, `msd-qwen3_moe`"""

    class MSDQwen3MoeForSequenceClassification(MSDModelMixin, transformers.Qwen3MoeForSequenceClassification):
        """sequence-classification, `msd-qwen3_moe`"""

    class MSDQwen3MoeForTokenClassification(MSDModelMixin, transformers.Qwen3MoeForTokenClassification):
        """token-classification, `msd-qwen3_moe`"""

    class MSDQwen3NextConfig(MSDConfigMixin, transformers.Qwen3NextConfig):
        """`msd-qwen3_next`"""

    class MSDQwen3NextForQuestionAnswering(MSDModelMixin, transformers.Qwen3NextForQuestionAnswering):
        """question-answering, `msd-qwen3_next`"""

    class MSDQwen3NextForSequenceClassification(MSDModelMixin, transformers.Qwen3NextForSequenceClassification):
        """sequence-classification, `msd-qwen3_next`"""

    class MSDQwen3NextForTokenClassification(MSDModelMixin, transformers.Qwen3NextForTokenClassification):
        """token-classification, `msd-qwen3_next`"""

    class MSDQwen3_5Config(MSDConfigMixin, transformers.Qwen3_5Config):
        """`msd-qwen3_5`"""

    class MSDQwen3_5ForSequenceClassification(MSDModelMixin, transformers.Qwen3_5ForSequenceClassification):
        """sequence-classification, `msd-qwen3_5`"""

    class MSDQwen3_5ForTokenClassification(MSDModelMixin, transformers.Qwen3_5ForTokenClassification):
        """token-classification, `msd-qwen3_5`"""

    class MSDQwen3_5TextConfig(MSDConfigMixin, transformers.Qwen3_5TextConfig):
        """`msd-qwen3_5_text`"""

    class MSDQwen3_5TextForSequenceClassification(MSDModelMixin, transformers.Qwen3_5TextForSequenceClassification):
        """sequence-classification, `msd-qwen3_5_text`"""

    class MSDReformerConfig(MSDConfigMixin, transformers.ReformerConfig):
        """`msd-reformer`"""

    class MSDReformerForQuestionAnswering(MSDModelMixin, transformers.ReformerForQuestionAnswering):
        """question-answering, `msd-reformer`"""

    class MSDReformerForSequenceClassification(MSDModelMixin, transformers.ReformerForSequenceClassification):
        """sequence-classification, `msd-reformer`"""

    class MSDRegNetConfig(MSDConfigMixin, transformers.RegNetConfig):
        """`msd-regnet`"""

    class MSDRegNetForImageClassification(MSDModelMixin, transformers.RegNetForImageClassification):
        """image-classification, `msd-regnet`"""

    class MSDRemBertConfig(MSDConfigMixin, transformers.RemBertConfig):
        """`msd-rembert`"""

    class MSDRemBertForMultipleChoice(MSDModelMixin, transformers.RemBertForMultipleChoice):
        """multiple-choice, `msd-rembert`"""

    class MSDRemBertForQuestionAnswering(MSDModelMixin, transformers.RemBertForQuestionAnswering):
        """question-answering, `msd-rembert`"""

    class MSDRemBertForSequenceClassification(MSDModelMixin, transformers.RemBertForSequenceClassification):
        """sequence-classification, `msd-rembert`"""

    class MSDRemBertForTokenClassification(MSDModelMixin, transformers.RemBertForTokenClassification):
        """token-classification, `msd-rembert`"""

    class MSDResNetConfig(MSDConfigMixin, transformers.ResNetConfig):
        """`msd-resnet`"""

    class MSDResNetForImageClassification(MSDModelMixin, transformers.ResNetForImageClassification):
        """image-classification, `msd-resnet`"""

    class MSDRoCBertConfig(MSDConfigMixin, transformers.RoCBertConfig):
        """`msd-roc_bert`"""

    class MSDRoCBertForMultipleChoice(MSDModelMixin, transformers.RoCBertForMultipleChoice):
        """multiple-choice, `msd-roc_bert`"""

    class MSDRoCBertForQuestionAnswering(MSDModelMixin, transformers.RoCBertForQuestionAnswering):
        """question-answering, `msd-roc_bert`"""

    class MSDRoCBertForSequenceClassification(MSDModelMixin, transformers.RoCBertForSequenceClassification):
        """sequence-classification, `msd-roc_bert`"""

    class MSDRoCBertForTokenClassification(MSDModelMixin, transformers.RoCBertForTokenClassification):
        """token-classification, `msd-roc_bert`"""

    class MSDRoFormerConfig(MSDConfigMixin, transformers.RoFormerConfig):
        """`msd-roformer`"""

    class MSDRoFormerForMultipleChoice(MSDModelMixin, transformers.RoFormerForMultipleChoice):
        """multiple-choice, `msd-roformer`"""

    class MSDRoFormerForQuestionAnswering(MSDModelMixin, transformers.RoFormerForQuestionAnswering):
        """question-answering, `msd-roformer`"""

    class MSDRoFormerForSequenceClassification(MSDModelMixin, transformers.RoFormerForSequenceClassification):
        """sequence-classification, `msd-roformer`"""

    class MSDRoFormerForTokenClassification(MSDModelMixin, transformers.RoFormerForTokenClassification):
        """token-classification, `msd-roformer`"""

    class MSDRobertaConfig(MSDConfigMixin, transformers.RobertaConfig):
        """`msd-roberta`"""

    class MSDRobertaForMultipleChoice(MSDModelMixin, transformers.RobertaForMultipleChoice):
        """multiple-choice, `msd-roberta`"""

    class MSDRobertaForQuestionAnswering(MSDModelMixin, transformers.RobertaForQuestionAnswering):
        """question-answering, `msd-roberta`"""

    class MSDRobertaForSequenceClassification(MSDModelMixin, transformers.RobertaForSequenceClassification):
        """sequence-classification, `msd-roberta`"""

    class MSDRobertaForTokenClassification(MSDModelMixin, transformers.RobertaForTokenClassification):
        """token-classification, `msd-roberta`"""

    class MSDRobertaPreLayerNormConfig(MSDConfigMixin, transformers.RobertaPreLayerNormConfig):
        """`msd-roberta-prelayernorm`"""

    class MSDRobertaPreLayerNormForMultipleChoice(MSDModelMixin, transformers.RobertaPreLayerNormForMultipleChoice):
        """multiple-choice, `msd-roberta-prelayernorm`"""

    class MSDRobertaPreLayerNormForQuestionAnswering(
        MSDModelMixin, transformers.RobertaPreLayerNormForQuestionAnswering
    ):
        """question-answering, `msd-roberta-prelayernorm`"""

    class MSDRobertaPreLayerNormForSequenceClassification(
        MSDModelMixin, transformers.RobertaPreLayerNormForSequenceClassification
    ):
        """sequence-classification, `msd-roberta-prelayernorm`"""

    class MSDRobertaPreLayerNormForTokenClassification(
        MSDModelMixin, transformers.RobertaPreLayerNormForTokenClassification
    ):
        """token-classification, `msd-roberta-prelayernorm`"""

    class MSDSEWConfig(MSDConfigMixin, transformers.SEWConfig):
        """`msd-sew`"""

    class MSDSEWDConfig(MSDConfigMixin, transformers.SEWDConfig):
        """`msd-sew-d`"""

    class MSDSEWDForSequenceClassification(MSDModelMixin, transformers.SEWDForSequenceClassification):
        """audio-classification, `msd-sew-d`"""

    class MSDSEWForSequenceClassification(MSDModelMixin, transformers.SEWForSequenceClassification):
        """audio-classification, `msd-sew`"""

    class MSDSeedOssConfig(MSDConfigMixin, transformers.SeedOssConfig):
        """`msd-seed_oss`"""

    class MSDSeedOssForQuestionAnswering(MSDModelMixin, transformers.SeedOssForQuestionAnswering):
        """question-answering, `msd-seed_oss`"""

    class MSDSeedOssForSequenceClassification(MSDModelMixin, transformers.SeedOssForSequenceClassification):
        """sequence-classification, `msd-seed_oss`"""

    class MSDSeedOssForTokenClassification(MSDModelMixin, transformers.SeedOssForTokenClassification):
        """token-classification, `msd-seed_oss`"""

    class MSDSegformerConfig(MSDConfigMixin, transformers.SegformerConfig):
        """`msd-segformer`"""

    class MSDSegformerForImageClassification(MSDModelMixin, transformers.SegformerForImageClassification):
        """image-classification, `msd-segformer`"""

    class MSDSiglip2Config(MSDConfigMixin, transformers.Siglip2Config):
        """`msd-siglip2`"""

    class MSDSiglip2ForImageClassification(MSDModelMixin, transformers.Siglip2ForImageClassification):
        """image-classification, `msd-siglip2`"""

    class MSDSiglipConfig(MSDConfigMixin, transformers.SiglipConfig):
        """`msd-siglip`"""

    class MSDSiglipForImageClassification(MSDModelMixin, transformers.SiglipForImageClassification):
        """image-classification, `msd-siglip`"""

    class MSDSmolLM3Config(MSDConfigMixin, transformers.SmolLM3Config):
        """`msd-smollm3`"""

    class MSDSmolLM3ForQuestionAnswering(MSDModelMixin, transformers.SmolLM3ForQuestionAnswering):
        """question-answering, `msd-smollm3`"""

    class MSDSmolLM3ForSequenceClassification(MSDModelMixin, transformers.SmolLM3ForSequenceClassification):
        """sequence-classification, `msd-smollm3`"""

    class MSDSmolLM3ForTokenClassification(MSDModelMixin, transformers.SmolLM3ForTokenClassification):
        """token-classification, `msd-smollm3`"""

    class MSDSqueezeBertConfig(MSDConfigMixin, transformers.SqueezeBertConfig):
        """`msd-squeezebert`"""

    class MSDSqueezeBertForMultipleChoice(MSDModelMixin, transformers.SqueezeBertForMultipleChoice):
        """multiple-choice, `msd-squeezebert`"""

    class MSDSqueezeBertForQuestionAnswering(MSDModelMixin, transformers.SqueezeBertForQuestionAnswering):
        """question-answering, `msd-squeezebert`"""

    class MSDSqueezeBertForSequenceClassification(MSDModelMixin, transformers.SqueezeBertForSequenceClassification):
        """sequence-classification, `msd-squeezebert`"""

    class MSDSqueezeBertForTokenClassification(MSDModelMixin, transformers.SqueezeBertForTokenClassification):
        """token-classification, `msd-squeezebert`"""

    class MSDStableLmConfig(MSDConfigMixin, transformers.StableLmConfig):
        """`msd-stablelm`"""

    class MSDStableLmForSequenceClassification(MSDModelMixin, transformers.StableLmForSequenceClassification):
        """sequence-classification, `msd-stablelm`"""

    class MSDStableLmForTokenClassification(MSDModelMixin, transformers.StableLmForTokenClassification):
        """token-classification, `msd-stablelm`"""

    class MSDStarcoder2Config(MSDConfigMixin, transformers.Starcoder2Config):
        """`msd-starcoder2`"""

    class MSDStarcoder2ForSequenceClassification(MSDModelMixin, transformers.Starcoder2ForSequenceClassification):
        """sequence-classification, `msd-starcoder2`"""

    class MSDStarcoder2ForTokenClassification(MSDModelMixin, transformers.Starcoder2ForTokenClassification):
        """token-classification, `msd-starcoder2`"""

    class MSDSwinConfig(MSDConfigMixin, transformers.SwinConfig):
        """`msd-swin`"""

    class MSDSwinForImageClassification(MSDModelMixin, transformers.SwinForImageClassification):
        """image-classification, `msd-swin`"""

    class MSDSwinv2Config(MSDConfigMixin, transformers.Swinv2Config):
        """`msd-swinv2`"""

    class MSDSwinv2ForImageClassification(MSDModelMixin, transformers.Swinv2ForImageClassification):
        """image-classification, `msd-swinv2`"""

    class MSDT5Config(MSDConfigMixin, transformers.T5Config):
        """`msd-t5`"""

    class MSDT5ForQuestionAnswering(MSDModelMixin, transformers.T5ForQuestionAnswering):
        """question-answering, `msd-t5`"""

    class MSDT5ForSequenceClassification(MSDModelMixin, transformers.T5ForSequenceClassification):
        """sequence-classification, `msd-t5`"""

    class MSDT5ForTokenClassification(MSDModelMixin, transformers.T5ForTokenClassification):
        """token-classification, `msd-t5`"""

    class MSDT5Gemma2Config(MSDConfigMixin, transformers.T5Gemma2Config):
        """`msd-t5gemma2`"""

    class MSDT5Gemma2ForTokenClassification(MSDModelMixin, transformers.T5Gemma2ForTokenClassification):
        """token-classification, `msd-t5gemma2`"""

    class MSDT5GemmaConfig(MSDConfigMixin, transformers.T5GemmaConfig):
        """`msd-t5gemma`"""

    class MSDT5GemmaForTokenClassification(MSDModelMixin, transformers.T5GemmaForTokenClassification):
        """token-classification, `msd-t5gemma`"""

    class MSDTapasConfig(MSDConfigMixin, transformers.TapasConfig):
        """`msd-tapas`"""

    class MSDTapasForSequenceClassification(MSDModelMixin, transformers.TapasForSequenceClassification):
        """sequence-classification, `msd-tapas`"""

    class MSDTextNetConfig(MSDConfigMixin, transformers.TextNetConfig):
        """`msd-textnet`"""

    class MSDTextNetForImageClassification(MSDModelMixin, transformers.TextNetForImageClassification):
        """image-classification, `msd-textnet`"""

    class MSDTimesformerConfig(MSDConfigMixin, transformers.TimesformerConfig):
        """`msd-timesformer`"""

    class MSDTimesformerForVideoClassification(MSDModelMixin, transformers.TimesformerForVideoClassification):
        """video-classification, `msd-timesformer`"""

    class MSDTimmWrapperConfig(MSDConfigMixin, transformers.TimmWrapperConfig):
        """`msd-timm_wrapper`"""

    class MSDTimmWrapperForImageClassification(MSDModelMixin, transformers.TimmWrapperForImageClassification):
        """image-classification, `msd-timm_wrapper`"""

    class MSDUMT5Config(MSDConfigMixin, transformers.UMT5Config):
        """`msd-umt5`"""

    class MSDUMT5ForQuestionAnswering(MSDModelMixin, transformers.UMT5ForQuestionAnswering):
        """question-answering, `msd-umt5`"""

    class MSDUMT5ForSequenceClassification(MSDModelMixin, transformers.UMT5ForSequenceClassification):
        """sequence-classification, `msd-umt5`"""

    class MSDUMT5ForTokenClassification(MSDModelMixin, transformers.UMT5ForTokenClassification):
        """token-classification, `msd-umt5`"""

    class MSDUltraVBertConfig(MSDConfigMixin, transformers.UltraVBertConfig):
        """`msd-ultravbert`"""

    class MSDUltraVBertForSequenceClassification(MSDModelMixin, transformers.UltraVBertForSequenceClassification):
        """sequence-classification, `msd-ultravbert`"""

    class MSDUltraVBertForTokenClassification(MSDModelMixin, transformers.UltraVBertForTokenClassification):
        """token-classification, `msd-ultravbert`"""

    class MSDUltrabertConfig(MSDConfigMixin, transformers.UltrabertConfig):
        """`msd-ultrabert`"""

    class MSDUltrabertForQuestionAnswering(MSDModelMixin, transformers.UltrabertForQuestionAnswering):
        """question-answering, `msd-ultrabert`"""

    class MSDUltrabertForSequenceClassification(MSDModelMixin, transformers.UltrabertForSequenceClassification):
        """sequence-classification, `msd-ultrabert`"""

    class MSDUltrabertForTokenClassification(MSDModelMixin, transformers.UltrabertForTokenClassification):
        """token-classification, `msd-ultrabert`"""

    class MSDUniSpeechConfig(MSDConfigMixin, transformers.UniSpeechConfig):
        """`msd-unispeech`"""

    class MSDUniSpeechForSequenceClassification(MSDModelMixin, transformers.UniSpeechForSequenceClassification):
        """audio-classification, `msd-unispeech`"""

    class MSDUniSpeechSatConfig(MSDConfigMixin, transformers.UniSpeechSatConfig):
        """`msd-unispeech-sat`"""

    class MSDUniSpeechSatForSequenceClassification(MSDModelMixin, transformers.UniSpeechSatForSequenceClassification):
        """audio-classification, `msd-unispeech-sat`"""

    class MSDVJEPA2Config(MSDConfigMixin, transformers.VJEPA2Config):
        """`msd-vjepa2`"""

    class MSDVJEPA2ForVideoClassification(MSDModelMixin, transformers.VJEPA2ForVideoClassification):
        """video-classification, `msd-vjepa2`"""

    class MSDViTConfig(MSDConfigMixin, transformers.ViTConfig):
        """`msd-vit`"""

    class MSDViTForImageClassification(MSDModelMixin, transformers.ViTForImageClassification):
        """image-classification, `msd-vit`"""

    class MSDViTMSNConfig(MSDConfigMixin, transformers.ViTMSNConfig):
        """`msd-vit_msn`"""

    class MSDViTMSNForImageClassification(MSDModelMixin, transformers.ViTMSNForImageClassification):
        """image-classification, `msd-vit_msn`"""

    class MSDVideoMAEConfig(MSDConfigMixin, transformers.VideoMAEConfig):
        """`msd-videomae`"""

    class MSDVideoMAEForVideoClassification(MSDModelMixin, transformers.VideoMAEForVideoClassification):
        """video-classification, `msd-videomae`"""

    class MSDVivitConfig(MSDConfigMixin, transformers.VivitConfig):
        """`msd-vivit`"""

    class MSDVivitForVideoClassification(MSDModelMixin, transformers.VivitForVideoClassification):
        """video-classification, `msd-vivit`"""

    class MSDWav2Vec2BertConfig(MSDConfigMixin, transformers.Wav2Vec2BertConfig):
        """`msd-wav2vec2-bert`"""

    class MSDWav2Vec2BertForSequenceClassification(MSDModelMixin, transformers.Wav2Vec2BertForSequenceClassification):
        """audio-classification, `msd-wav2vec2-bert`"""

    class MSDWav2Vec2Config(MSDConfigMixin, transformers.Wav2Vec2Config):
        """`msd-wav2vec2`"""

    class MSDWav2Vec2ConformerConfig(MSDConfigMixin, transformers.Wav2Vec2ConformerConfig):
        """`msd-wav2vec2-conformer`"""

    class MSDWav2Vec2ConformerForSequenceClassification(
        MSDModelMixin, transformers.Wav2Vec2ConformerForSequenceClassification
    ):
        """audio-classification, `msd-wav2vec2-conformer`"""

    class MSDWav2Vec2ForSequenceClassification(MSDModelMixin, transformers.Wav2Vec2ForSequenceClassification):
        """audio-classification, `msd-wav2vec2`"""

    class MSDWavLMConfig(MSDConfigMixin, transformers.WavLMConfig):
        """`msd-wavlm`"""

    class MSDWavLMForSequenceClassification(MSDModelMixin, transformers.WavLMForSequenceClassification):
        """audio-classification, `msd-wavlm`"""

    class MSDWhisperConfig(MSDConfigMixin, transformers.WhisperConfig):
        """`msd-whisper`"""

    class MSDWhisperForAudioClassification(MSDModelMixin, transformers.WhisperForAudioClassification):
        """audio-classification, `msd-whisper`"""

    class MSDXLMConfig(MSDConfigMixin, transformers.XLMConfig):
        """`msd-xlm`"""

    class MSDXLMForMultipleChoice(MSDModelMixin, transformers.XLMForMultipleChoice):
        """multiple-choice, `msd-xlm`"""

    class MSDXLMForQuestionAnsweringSimple(MSDModelMixin, transformers.XLMForQuestionAnsweringSimple):
        """question-answering, `msd-xlm`"""

    class MSDXLMForSequenceClassification(MSDModelMixin, transformers.XLMForSequenceClassification):
        """sequence-classification, `msd-xlm`"""

    class MSDXLMForTokenClassification(MSDModelMixin, transformers.XLMForTokenClassification):
        """token-classification, `msd-xlm`"""

    class MSDXLMRobertaConfig(MSDConfigMixin, transformers.XLMRobertaConfig):
        """`msd-xlm-roberta`"""

    class MSDXLMRobertaForMultipleChoice(MSDModelMixin, transformers.XLMRobertaForMultipleChoice):
        """multiple-choice, `msd-xlm-roberta`"""

    class MSDXLMRobertaForQuestionAnswering(MSDModelMixin, transformers.XLMRobertaForQuestionAnswering):
        """question-answering, `msd-xlm-roberta`"""

    class MSDXLMRobertaForSequenceClassification(MSDModelMixin, transformers.XLMRobertaForSequenceClassification):
        """sequence-classification, `msd-xlm-roberta`"""

    class MSDXLMRobertaForTokenClassification(MSDModelMixin, transformers.XLMRobertaForTokenClassification):
        """token-classification, `msd-xlm-roberta`"""

    class MSDXLMRobertaXLConfig(MSDConfigMixin, transformers.XLMRobertaXLConfig):
        """`msd-xlm-roberta-xl`"""

    class MSDXLMRobertaXLForMultipleChoice(MSDModelMixin, transformers.XLMRobertaXLForMultipleChoice):
        """multiple-choice, `msd-xlm-roberta-xl`"""

    class MSDXLMRobertaXLForQuestionAnswering(MSDModelMixin, transformers.XLMRobertaXLForQuestionAnswering):
        """question-answering, `msd-xlm-roberta-xl`"""

    class MSDXLMRobertaXLForSequenceClassification(MSDModelMixin, transformers.XLMRobertaXLForSequenceClassification):
        """sequence-classification, `msd-xlm-roberta-xl`"""

    class MSDXLMRobertaXLForTokenClassification(MSDModelMixin, transformers.XLMRobertaXLForTokenClassification):
        """token-classification, `msd-xlm-roberta-xl`"""

    class MSDXLNetConfig(MSDConfigMixin, transformers.XLNetConfig):
        """`msd-xlnet`"""

    class MSDXLNetForMultipleChoice(MSDModelMixin, transformers.XLNetForMultipleChoice):
        """multiple-choice, `msd-xlnet`"""

    class MSDXLNetForQuestionAnsweringSimple(MSDModelMixin, transformers.XLNetForQuestionAnsweringSimple):
        """question-answering, `msd-xlnet`"""

    class MSDXLNetForSequenceClassification(MSDModelMixin, transformers.XLNetForSequenceClassification):
        """sequence-classification, `msd-xlnet`"""

    class MSDXLNetForTokenClassification(MSDModelMixin, transformers.XLNetForTokenClassification):
        """token-classification, `msd-xlnet`"""

    class MSDXmodConfig(MSDConfigMixin, transformers.XmodConfig):
        """`msd-xmod`"""

    class MSDXmodForMultipleChoice(MSDModelMixin, transformers.XmodForMultipleChoice):
        """multiple-choice, `msd-xmod`"""

    class MSDXmodForQuestionAnswering(MSDModelMixin, transformers.XmodForQuestionAnswering):
        """question-answering, `msd-xmod`"""

    class MSDXmodForSequenceClassification(MSDModelMixin, transformers.XmodForSequenceClassification):
        """sequence-classification, `msd-xmod`"""

    class MSDXmodForTokenClassification(MSDModelMixin, transformers.XmodForTokenClassification):
        """token-classification, `msd-xmod`"""

    class MSDYosoConfig(MSDConfigMixin, transformers.YosoConfig):
        """`msd-yoso`"""

    class MSDYosoForMultipleChoice(MSDModelMixin, transformers.YosoForMultipleChoice):
        """multiple-choice, `msd-yoso`"""

    class MSDYosoForQuestionAnswering(MSDModelMixin, transformers.YosoForQuestionAnswering):
        """question-answering, `msd-yoso`"""

    class MSDYosoForSequenceClassification(MSDModelMixin, transformers.YosoForSequenceClassification):
        """sequence-classification, `msd-yoso`"""

    class MSDYosoForTokenClassification(MSDModelMixin, transformers.YosoForTokenClassification):
        """token-classification, `msd-yoso`"""

    class MSDZamba2Config(MSDConfigMixin, transformers.Zamba2Config):
        """`msd-zamba2`"""

    class MSDZamba2ForSequenceClassification(MSDModelMixin, transformers.Zamba2ForSequenceClassification):
        """sequence-classification, `msd-zamba2`"""

    class MSDZambaConfig(MSDConfigMixin, transformers.ZambaConfig):
        """`msd-zamba`"""

    class MSDZambaForSequenceClassification(MSDModelMixin, transformers.ZambaForSequenceClassification):
        """sequence-classification, `msd-zamba`"""

    # (end of the class statements)
