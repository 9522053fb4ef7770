"""OCI media types of model artifacts, as Docker Model Runner writes and reads them."""

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

CONFIG_V01 = "application/vnd.docker.ai.model.config.v0.1+json"
CONFIG_V02 = "application/vnd.docker.ai.model.config.v0.2+json"
CONFIG_CNCF = "application/vnd.cncf.model.config.v1+json"
READABLE_CONFIGS = frozenset({CONFIG_V01, CONFIG_V02, CONFIG_CNCF})

GGUF = "application/vnd.docker.ai.gguf.v3"
LICENSE = "application/vnd.docker.ai.license"
MMPROJ = "application/vnd.docker.ai.mmproj"
CHAT_TEMPLATE = "application/vnd.docker.ai.chat.template.jinja"
SAFETENSORS = "application/vnd.docker.ai.safetensors"
VLLM_CONFIG_TAR = "application/vnd.docker.ai.vllm.config.tar"

FILEPATH_ANNOTATION = "org.cncf.model.filepath"
